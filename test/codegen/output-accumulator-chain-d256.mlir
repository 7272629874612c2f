// The output kernel's accumulator chain (output-accumulator-chain.mlir) at
// d = 256 (where the fused kernel keeps its epilogues unfused; the
// three-phase kernels fuse them at every dk): Q Sb and P Vn run as one
// chain stored straight to o, 122880 bytes of shared memory instead of
// 156672 with the f32 O tile (epilogue-fusion=0 turns the chain off too).
// Above dk = 128 the auto width of prepare and output is 64 value columns
// (prefix AUTO, 81920 bytes, two programs per SM; 128 measured slower on the
// H200), so the 128-column kernels are asked for explicitly. (The output
// kernel runs where the scan does not compute the output: output-in-scan=0
// here, since the register scan at dk = 256 computes it by default.)
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 parallel-block-v=128 output-in-scan=0" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 parallel-block-v=128 epilogue-fusion=0 output-in-scan=0" | FileCheck %s --check-prefix=OFF
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=AUTO

// AUTO: kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_prepare"
// AUTO: kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_output"
// AUTO-SAME: shared_bytes = 81920
// AUTO: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_output(
// AUTO: nvvm.wgmma.mma_async {{.*}} D[<f32>, <zero>]
// AUTO-NOT: vector<2xf32>, !llvm.ptr<3>
// AUTO: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<1>

// CHECK: kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v128_w8_l2_p3_output"
// CHECK-SAME: shared_bytes = 122880
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v128_w8_l2_p3_output(
// CHECK: nvvm.wgmma.mma_async {{.*}} D[<f32>, <zero>]
// CHECK-NOT: vector<2xf32>, !llvm.ptr<3>
// CHECK: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<1>
// CHECK: gpu.return

// OFF: kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v128_w8_l2_p3_output"
// OFF-SAME: shared_bytes = 156672
func.func @prefill(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x256xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
  return %o : tensor<?x?x?x256xbf16>
}
