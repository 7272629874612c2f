// On sm_90 and later every chunk-loop kernel starts with
// griddepcontrol.wait (inline asm with a memory clobber: no global access
// before it), and its launch says programmatic_wait = true, so the runtime
// may launch it with programmatic stream serialization
// (runtime/lib/Launcher.cpp). The output kernel and the fused one first run
// griddepcontrol.launch_dependents (the next kernel in the stream may be
// scheduled once all of their blocks run); prepare and the scan do not (the
// scan's few programs must find the SMs empty, and an output launched at
// the scan's start would sit on them for the whole scan). On sm_80 none of
// it. (The default and PTX prefixes: three kernels, output-in-scan=0. By
// default the register scan computes the output: two kernels, both
// waiting, neither letting the next launch early; prefix SCANOUT.)
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=SCANOUT
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s --check-prefix=FUSED
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="chip=sm_80 phases=3" | FileCheck %s --check-prefix=SM80
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" -delta-kernels-to-ptx | FileCheck %s --check-prefix=PTX

// CHECK: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare"
// CHECK-SAME: programmatic_wait = true
// CHECK-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan"
// CHECK-SAME: programmatic_wait = true
// CHECK-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output"
// CHECK-SAME: programmatic_wait = true
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// CHECK-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"

// SCANOUT: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare_qk"
// SCANOUT-SAME: programmatic_wait = true
// SCANOUT-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan_output"
// SCANOUT-SAME: programmatic_wait = true
// SCANOUT-NOT: launch_dependents
// SCANOUT: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare_qk(
// SCANOUT-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"
// SCANOUT-NOT: launch_dependents
// SCANOUT: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan_output(
// SCANOUT-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"
// SCANOUT-NOT: launch_dependents

// FUSED: programmatic_wait = true
// FUSED: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// FUSED-NEXT: nvvm.griddepcontrol launch_dependents
// FUSED-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;"

// SM80-NOT: programmatic_wait
// SM80-NOT: griddepcontrol

// In the PTX too, no global load or cp.async comes before the wait.
// PTX: .entry dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// PTX-NOT: ld.global
// PTX-NOT: cp.async
// PTX-NOT: griddepcontrol.launch_dependents
// PTX: griddepcontrol.wait;
// PTX-NOT: griddepcontrol.launch_dependents
// PTX: .entry dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// PTX-NOT: ld.global
// PTX-NOT: cp.async
// PTX-NOT: griddepcontrol.launch_dependents
// PTX: griddepcontrol.wait;
// PTX-NOT: griddepcontrol.launch_dependents
// PTX: .entry dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// PTX-NOT: ld.global
// PTX: griddepcontrol.launch_dependents;
// PTX-NOT: ld.global
// PTX-NOT: cp.async
// PTX: griddepcontrol.wait;

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
