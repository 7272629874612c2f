// With in-kernel q/k L2 norm, the three-phase prepare kernel stores the
// normalised k tile (ws_k) and the scan reads it instead of loading k and
// normalising it every chunk step (no norm reductions in the scan). Where
// the scan also computes the output (the register scan, output-in-scan),
// prepare also stores q's inverse row norms (ws_qn, `_prepare_q`: 4 bytes
// per row), and the scan, which loads q as given, scales Q Sb's rows by
// them (no norm reductions there either); with an output kernel (OUTK),
// that kernel normalises q. Without the norm, nothing but
// T and mask(Q K^T) crosses: the scan loads q and k.
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=OUTK
// RUN: sed 's/{use_qk_l2norm}//' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=NOL2

// CHECK: scratch = {{.*}}"ws_k", "total_chunks * HV * 8192"], {{\[}}"ws_qn", "total_chunks * HV * 256"]]
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare_q(
// CHECK: nvvm.shfl.sync
// One thread per row stores the row's inverse norm.
// CHECK: sqrt.rn.f32
// CHECK: scf.if
// CHECK: llvm.store {{.*}} : f32, !llvm.ptr<1>
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan_output(
// CHECK-NOT: nvvm.shfl.sync
// CHECK: gpu.return

// OUTK: scratch = {{.*}}"ws_k", "total_chunks * HV * 8192"]
// OUTK-NOT: ws_q
// OUTK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// OUTK: nvvm.shfl.sync
// OUTK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// OUTK-NOT: nvvm.shfl.sync
// OUTK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// OUTK: nvvm.shfl.sync

// NOL2: scratch = {{\[\[}}"ws0", "total_chunks * HV * 8192"], {{\[}}"ws1", "total_chunks * HV * 8192"]]
// NOL2: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_p3_prepare(
// NOL2-NOT: ws_
// NOL2: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_p3_scan_output(
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
