// With in-kernel q/k L2 norm, the three-phase prepare kernel stores the
// normalised k tile (ws_k) and the scan reads it instead of loading k and
// normalising it every chunk step (no norm reductions in the scan); the
// output kernel still normalises q. Without the norm, the scan loads k.
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: sed 's/{use_qk_l2norm}//' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=NOL2

// CHECK: scratch = {{.*}}"ws_k", "total_chunks * HV * 8192"]
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK: nvvm.shfl.sync
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// CHECK-NOT: nvvm.shfl.sync
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// CHECK: nvvm.shfl.sync

// NOL2-NOT: ws_k
// NOL2: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_p3_prepare(
// NOL2-NOT: ws_k
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
