// The convert-delta-to-cpu pass and the delta-cpu-to-llvm pipeline.
// RUN: delta-opt %s -convert-delta-to-cpu -split-input-file | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-cpu -delta-cpu-to-llvm -split-input-file | FileCheck %s --check-prefix=LLVM

// A hand-written body: the lowering follows the body op by op (here a UT
// transform with blocks of 8 and a scalar op on the scale), inside loops
// over sequences, value heads, value tiles (step block_v) and chunks.
// CHECK-LABEL: func.func @chunk
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x?x1x16xf32>, %[[K:[^:]+]]: tensor<2x?x1x16xf32>, %[[V:[^:]+]]: tensor<2x?x2x32xf32>, %[[B:[^:]+]]: tensor<2x?x2xf32>)
// CHECK: %[[SCALE:.+]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: bufferization.to_buffer %[[Q]] read_only : tensor<2x?x1x16xf32> to memref<2x?x1x16xf32>
// CHECK-DAG: %[[KB:.+]] = bufferization.to_buffer %[[K]] read_only
// CHECK-DAG: %[[VB:.+]] = bufferization.to_buffer %[[V]] read_only
// CHECK-DAG: %[[BB:.+]] = bufferization.to_buffer %[[B]] read_only
// CHECK: %[[O:.+]] = memref.alloc(%{{.+}}) : memref<2x?x2x32xf32>
// CHECK: %[[S:.+]] = memref.alloc() : memref<2x2x16x32xf32>
// CHECK: %[[KT:.+]] = memref.alloc() : memref<16x16xf32>
// CHECK: %[[ST:.+]] = memref.alloc() : memref<16x16xf32>
// CHECK: memref.alloc() : memref<8x16xf32>
// CHECK: scf.for %[[N:[^ ]+]] =
// CHECK: scf.for %[[HV:[^ ]+]] =
// CHECK: scf.for %[[V0:[^ ]+]] = %{{.+}} to %c32{{(_[0-9]+)?}} step %c16{{(_[0-9]+)?}}
// CHECK: scf.for %[[C:[^ ]+]] =
// CHECK: memref.load %[[KB]][%[[N]], %{{.+}}, %{{.+}}, %{{.+}}] : memref<2x?x1x16xf32>
// CHECK: memref.load %[[BB]][%[[N]], %{{.+}}, %[[HV]]] : memref<2x?x2xf32>
// CHECK: arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK: arith.cmpi ult
// CHECK: memref.store %{{.+}}, %[[O]][%[[N]], %{{.+}}, %[[HV]], %{{.+}}] : memref<2x?x2x32xf32>
// CHECK: memref.store %{{.+}}, %[[S]][%[[N]], %[[HV]], %{{.+}}, %{{.+}}] : memref<2x2x16x32xf32>
// CHECK: %[[OT:.+]] = bufferization.to_tensor %[[O]] restrict writable : memref<2x?x2x32xf32> to tensor<2x?x2x32xf32>
// CHECK: %[[STT:.+]] = bufferization.to_tensor %[[S]] restrict writable : memref<2x2x16x32xf32> to tensor<2x2x16x32xf32>
// CHECK: return %[[OT]], %[[STT]]
// CHECK-NOT: delta.
func.func @chunk(%q: tensor<2x?x1x16xf32>, %k: tensor<2x?x1x16xf32>,
                 %v: tensor<2x?x2x32xf32>, %b: tensor<2x?x2xf32>)
    -> (tensor<2x?x2x32xf32>, tensor<2x2x16x32xf32>) {
  %scale = arith.constant 0.25 : f32
  %o, %s = delta.chunk_loop %q, %k, %v, %b scale(%scale)
      {tile = #delta.tile<chunk = 16, block_v = 16, warps = 4, stages = 1>}
      : tensor<2x?x1x16xf32>, tensor<2x?x1x16xf32>, tensor<2x?x2x32xf32>,
        tensor<2x?x2xf32> -> tensor<2x?x2x32xf32>, tensor<2x2x16x32xf32> {
  ^bb0(%qc: tensor<16x16xf32>, %kc: tensor<16x16xf32>, %vc: tensor<16x16xf32>,
       %bc: tensor<16xf32>, %st: tensor<16x16xf32>, %sc: f32):
    %two = arith.constant 2.0 : f32
    %a = arith.mulf %sc, %two : f32
    %kk = delta.tile_matmul %kc, %kc {transpose_b}
        : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %m = delta.tile_mask strict_lower %kk : tensor<16x16xf32>
    %t = delta.tile_ut_transform %m, %bc {block = 8 : i64}
        : tensor<16x16xf32>, tensor<16xf32> -> tensor<16x16xf32>
    %oc = delta.tile_matmul %t, %vc alpha(%a)
        : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    delta.chunk_yield %oc, %st : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o, %s : tensor<2x?x2x32xf32>, tensor<2x2x16x32xf32>
}

// -----

// A varlen bf16 layer with an initial state, from delta.delta_rule to the
// LLVM dialect: the C interface for mlir::ExecutionEngine, buffers from
// malloc and freed, no op of another dialect left.
// convert-delta-to-cpu alone lowers only chunk loops.
// CHECK-LABEL: func.func @run
// CHECK: delta.delta_rule
// LLVM-LABEL: llvm.func @run
// LLVM: llvm.call @malloc
// LLVM: llvm.call @free
// LLVM-LABEL: llvm.func @_mlir_ciface_run
// LLVM-NOT: {{ (scf|memref|bufferization|arith|math|cf|delta)\.}}
func.func @run(%q: memref<1x?x1x32xbf16>, %k: memref<1x?x1x32xbf16>,
               %v: memref<1x?x2x32xbf16>, %b: memref<1x?x2xbf16>,
               %h0: memref<?x2x32x32xf32>, %cu: memref<?xi32>,
               %o: memref<1x?x2x32xbf16>, %ht: memref<?x2x32x32xf32>)
    attributes {llvm.emit_c_interface} {
  %qt = bufferization.to_tensor %q restrict : memref<1x?x1x32xbf16> to tensor<1x?x1x32xbf16>
  %kt = bufferization.to_tensor %k restrict : memref<1x?x1x32xbf16> to tensor<1x?x1x32xbf16>
  %vt = bufferization.to_tensor %v restrict : memref<1x?x2x32xbf16> to tensor<1x?x2x32xbf16>
  %bt = bufferization.to_tensor %b restrict : memref<1x?x2xbf16> to tensor<1x?x2xbf16>
  %h0t = bufferization.to_tensor %h0 restrict : memref<?x2x32x32xf32> to tensor<?x2x32x32xf32>
  %cut = bufferization.to_tensor %cu restrict : memref<?xi32> to tensor<?xi32>
  %ot, %st = delta.delta_rule %qt, %kt, %vt, %bt
      initial_state(%h0t : tensor<?x2x32x32xf32>) cu_seqlens(%cut : tensor<?xi32>)
      {chunk_size = 16 : i64, use_qk_l2norm}
      : tensor<1x?x1x32xbf16>, tensor<1x?x1x32xbf16>, tensor<1x?x2x32xbf16>,
        tensor<1x?x2xbf16> -> tensor<1x?x2x32xbf16>, tensor<?x2x32x32xf32>
  bufferization.materialize_in_destination %ot in restrict writable %o
      : (tensor<1x?x2x32xbf16>, memref<1x?x2x32xbf16>) -> ()
  bufferization.materialize_in_destination %st in restrict writable %ht
      : (tensor<?x2x32x32xf32>, memref<?x2x32x32xf32>) -> ()
  return
}
