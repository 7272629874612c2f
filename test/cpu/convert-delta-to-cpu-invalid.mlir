// Chunk bodies that convert-delta-to-cpu rejects, with the op named.
// RUN: delta-opt %s -convert-delta-to-cpu -split-input-file -verify-diagnostics

func.func @tensor_arith(%q: tensor<1x?x1x16xf32>, %v: tensor<1x?x1x16xf32>,
                        %b: tensor<1x?x1xf32>)
    -> (tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>) {
  %scale = arith.constant 0.25 : f32
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%scale)
      {tile = #delta.tile<chunk = 16, block_v = 16, warps = 4, stages = 1>}
      : tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>,
        tensor<1x?x1xf32> -> tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32> {
  ^bb0(%qc: tensor<16x16xf32>, %kc: tensor<16x16xf32>, %vc: tensor<16x16xf32>,
       %bc: tensor<16xf32>, %st: tensor<16x16xf32>, %sc: f32):
    // expected-error @+1 {{'arith.addf' op is not supported in a chunk body by the CPU lowering}}
    %x = arith.addf %vc, %vc : tensor<16x16xf32>
    delta.chunk_yield %x, %st : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o, %s : tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>
}

// -----

func.func @side_effect(%q: tensor<1x?x1x16xf32>, %v: tensor<1x?x1x16xf32>,
                       %b: tensor<1x?x1xf32>)
    -> (tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>) {
  %scale = arith.constant 0.25 : f32
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%scale)
      {tile = #delta.tile<chunk = 16, block_v = 16, warps = 4, stages = 1>}
      : tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>,
        tensor<1x?x1xf32> -> tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32> {
  ^bb0(%qc: tensor<16x16xf32>, %kc: tensor<16x16xf32>, %vc: tensor<16x16xf32>,
       %bc: tensor<16xf32>, %st: tensor<16x16xf32>, %sc: f32):
    // expected-error @+1 {{'memref.alloca' op is not supported in a chunk body by the CPU lowering}}
    %m = memref.alloca() : memref<4xf32>
    delta.chunk_yield %vc, %st : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o, %s : tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>
}

// -----

func.func @outside_tile(%q: tensor<1x?x1x16xf32>, %v: tensor<1x?x1x16xf32>,
                        %b: tensor<1x?x1xf32>, %acc: tensor<16x16xf32>)
    -> (tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>) {
  %scale = arith.constant 0.25 : f32
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%scale)
      {tile = #delta.tile<chunk = 16, block_v = 16, warps = 4, stages = 1>}
      : tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>,
        tensor<1x?x1xf32> -> tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32> {
  ^bb0(%qc: tensor<16x16xf32>, %kc: tensor<16x16xf32>, %vc: tensor<16x16xf32>,
       %bc: tensor<16xf32>, %st: tensor<16x16xf32>, %sc: f32):
    // expected-error @+1 {{'delta.tile_matmul' op uses a tile defined outside the chunk body, which the CPU lowering does not support}}
    %x = delta.tile_matmul %qc, %kc acc(%acc : tensor<16x16xf32>)
        : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    delta.chunk_yield %x, %st : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o, %s : tensor<1x?x1x16xf32>, tensor<1x1x16x16xf32>
}
