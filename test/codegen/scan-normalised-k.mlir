// With in-kernel q/k L2 norm, the three-phase prepare kernel hands the scan
// what it needs of the norms instead of the scan normalising q and k every
// chunk step (no norm reductions in the scan). Where the scan also computes
// the output (the register scan, output-in-scan) at bf16, prepare stores
// q's and k's inverse row norms (ws_norms, `_prepare_qk`: 4 bytes per row
// of each), keeps k's in shared memory for its products (K K^T scaled by
// them on both sides, T by rows) and stores no normalised k; the scan loads
// q and k as given and scales by the norms. At fp16 (F16) prepare stores
// the normalised k (ws_k) and q's norms only (`_prepare_q`). With an output
// kernel (OUTK), prepare stores the normalised k and that kernel normalises
// q. Without the norm, nothing but T and mask(Q K^T) crosses: the scan
// loads q and k.
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: sed 's/bf16/f16/g' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=F16
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=OUTK
// RUN: sed 's/{use_qk_l2norm}//' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=NOL2

// CHECK: scratch = {{\[\[}}"ws0", "total_chunks * HV * 8192"], {{\[}}"ws1", "total_chunks * HV * 8192"], {{\[}}"ws_norms", "total_chunks * HV * 512"]]
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare_qk(
// q's norms: four lanes 8 apart share a row (a warp's lanes take its 8 rows
// first: one 16-byte load phase reads 8 rows, distinct banks), their sums
// combined by shuffles at lane distances 8 and 16; one thread per row
// stores the row's inverse norm.
// CHECK: nvvm.shfl.sync  bfly {{.*}}, %c8_i32{{.*}}, %c31_i32
// CHECK-NEXT: arith.addf
// CHECK: nvvm.shfl.sync  bfly {{.*}}, %c16_i32{{.*}}, %c31_i32
// CHECK: sqrt.rn.f32
// CHECK: scf.if
// CHECK: llvm.store {{.*}} : f32, !llvm.ptr<1>
// k's: stored after q's (row + chunk) and kept after the plan (51456).
// CHECK: nvvm.shfl.sync
// CHECK: sqrt.rn.f32
// CHECK: scf.if
// CHECK: arith.addi %{{.*}}, %c64_i32
// CHECK: llvm.store {{.*}} : f32, !llvm.ptr<1>
// CHECK: llvm.getelementptr %{{.*}}[%c51456_i32
// CHECK: llvm.store {{.*}} : f32, !llvm.ptr<3>
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan_output(
// CHECK-NOT: nvvm.shfl.sync
// CHECK: gpu.return

// F16: scratch = {{.*}}"ws_k", "total_chunks * HV * 8192"], {{\[}}"ws_norms", "total_chunks * HV * 256"]]
// F16-LABEL: gpu.func @dj_delta_rule_fwd_fp16_d64x64_c64_v64_w8_l2_p3_prepare_q(
// F16-LABEL: gpu.func @dj_delta_rule_fwd_fp16_d64x64_c64_v64_w8_l2_p3_scan_output(
// F16-NOT: nvvm.shfl.sync
// F16: gpu.return

// OUTK: scratch = {{.*}}"ws_k", "total_chunks * HV * 8192"]
// OUTK-NOT: ws_norms
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
