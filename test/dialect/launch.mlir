// Round-trip of delta.launch with its kernel container.
// RUN: delta-opt %s | delta-opt | FileCheck %s

// CHECK-LABEL: func.func @host
// CHECK: %{{.*}}:2 = delta.launch @kernels::@k(%{{.*}}, %{{.*}}) {launch = {block = [64, 1, 1], grid = ["1", "N * HV", "1"]}} : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @host(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
    %r:2 = delta.launch @kernels::@k(%a, %b) {launch = {grid = ["1", "N * HV", "1"], block = [64, 1, 1]}}
        : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
    return %r#0 : tensor<4xf32>
  }
}
