// A small hybrid DeltaNet: 4 layers, hidden 256, 4 heads of 64, DeltaNet
// layers (0, 2) interleaved with sliding-window attention layers (1, 3;
// window 512, 2 KV heads, rotary). Weights are external globals
// (ml_program.global with #ml_program.extern), filled by the runtime from a
// checkpoint or by deterministic random init. @forward is the prefill of a
// batch: token ids in; logits and every carried state out.
module @hybrid_deltanet_swa {
  ml_program.global private @embeddings(#ml_program.extern : tensor<1024x256xbf16>) : tensor<1024x256xbf16>
  ml_program.global private @layers.0.attn_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.0.attn.q_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.0.attn.k_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.0.attn.v_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.0.attn.q_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.0.attn.k_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.0.attn.v_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.0.attn.b_proj(#ml_program.extern : tensor<4x256xbf16>) : tensor<4x256xbf16>
  ml_program.global private @layers.0.attn.g_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.0.attn.o_norm(#ml_program.extern : tensor<64xbf16>) : tensor<64xbf16>
  ml_program.global private @layers.0.attn.o_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.0.mlp_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.0.mlp.gate_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.0.mlp.up_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.0.mlp.down_proj(#ml_program.extern : tensor<256x512xbf16>) : tensor<256x512xbf16>
  ml_program.global private @layers.1.attn_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.1.attn.q_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.1.attn.k_proj(#ml_program.extern : tensor<128x256xbf16>) : tensor<128x256xbf16>
  ml_program.global private @layers.1.attn.v_proj(#ml_program.extern : tensor<128x256xbf16>) : tensor<128x256xbf16>
  ml_program.global private @layers.1.attn.o_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.1.mlp_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.1.mlp.gate_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.1.mlp.up_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.1.mlp.down_proj(#ml_program.extern : tensor<256x512xbf16>) : tensor<256x512xbf16>
  ml_program.global private @layers.2.attn_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.2.attn.q_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.2.attn.k_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.2.attn.v_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.2.attn.q_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.2.attn.k_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.2.attn.v_conv1d(#ml_program.extern : tensor<256x4xbf16>) : tensor<256x4xbf16>
  ml_program.global private @layers.2.attn.b_proj(#ml_program.extern : tensor<4x256xbf16>) : tensor<4x256xbf16>
  ml_program.global private @layers.2.attn.g_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.2.attn.o_norm(#ml_program.extern : tensor<64xbf16>) : tensor<64xbf16>
  ml_program.global private @layers.2.attn.o_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.2.mlp_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.2.mlp.gate_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.2.mlp.up_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.2.mlp.down_proj(#ml_program.extern : tensor<256x512xbf16>) : tensor<256x512xbf16>
  ml_program.global private @layers.3.attn_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.3.attn.q_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.3.attn.k_proj(#ml_program.extern : tensor<128x256xbf16>) : tensor<128x256xbf16>
  ml_program.global private @layers.3.attn.v_proj(#ml_program.extern : tensor<128x256xbf16>) : tensor<128x256xbf16>
  ml_program.global private @layers.3.attn.o_proj(#ml_program.extern : tensor<256x256xbf16>) : tensor<256x256xbf16>
  ml_program.global private @layers.3.mlp_norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @layers.3.mlp.gate_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.3.mlp.up_proj(#ml_program.extern : tensor<512x256xbf16>) : tensor<512x256xbf16>
  ml_program.global private @layers.3.mlp.down_proj(#ml_program.extern : tensor<256x512xbf16>) : tensor<256x512xbf16>
  ml_program.global private @norm(#ml_program.extern : tensor<256xbf16>) : tensor<256xbf16>
  ml_program.global private @lm_head(#ml_program.extern : tensor<1024x256xbf16>) : tensor<1024x256xbf16>

  // x -> RMSNorm -> q, k, v projections -> short conv + SiLU -> L2-normalised
  // q, k; beta = sigmoid(b_proj) -> delta rule -> gated per-head RMSNorm ->
  // o_proj -> residual; then RMSNorm -> SwiGLU MLP -> residual.
  func.func private @deltanet_layer(%x: tensor<?x?x256xbf16>, %attn_norm: tensor<256xbf16>, %wq: tensor<256x256xbf16>, %wk: tensor<256x256xbf16>, %wv: tensor<256x256xbf16>, %cq: tensor<256x4xbf16>, %ck: tensor<256x4xbf16>, %cv: tensor<256x4xbf16>, %wb: tensor<4x256xbf16>, %wg: tensor<256x256xbf16>, %onorm: tensor<64xbf16>, %wo: tensor<256x256xbf16>, %mlp_norm: tensor<256xbf16>, %gate: tensor<512x256xbf16>, %up: tensor<512x256xbf16>, %down: tensor<256x512xbf16>) -> (tensor<?x?x256xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %b = tensor.dim %x, %c0 : tensor<?x?x256xbf16>
    %t = tensor.dim %x, %c1 : tensor<?x?x256xbf16>
    %h = delta.rms_norm %x, %attn_norm : tensor<?x?x256xbf16>, tensor<256xbf16> -> tensor<?x?x256xbf16>
    %qp = delta.linear %h, %wq : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %qc, %qs = delta.short_conv %qp, %cq {activation = #delta<activation silu>} : tensor<?x?x256xbf16>, tensor<256x4xbf16> -> tensor<?x?x256xbf16>, tensor<?x256x3xf32>
    %qh = tensor.expand_shape %qc [[0], [1], [2, 3]] output_shape [%b, %t, 4, 64] : tensor<?x?x256xbf16> into tensor<?x?x4x64xbf16>
    %kp = delta.linear %h, %wk : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %kc, %ks = delta.short_conv %kp, %ck {activation = #delta<activation silu>} : tensor<?x?x256xbf16>, tensor<256x4xbf16> -> tensor<?x?x256xbf16>, tensor<?x256x3xf32>
    %kh = tensor.expand_shape %kc [[0], [1], [2, 3]] output_shape [%b, %t, 4, 64] : tensor<?x?x256xbf16> into tensor<?x?x4x64xbf16>
    %vp = delta.linear %h, %wv : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %vc, %vs = delta.short_conv %vp, %cv {activation = #delta<activation silu>} : tensor<?x?x256xbf16>, tensor<256x4xbf16> -> tensor<?x?x256xbf16>, tensor<?x256x3xf32>
    %vh = tensor.expand_shape %vc [[0], [1], [2, 3]] output_shape [%b, %t, 4, 64] : tensor<?x?x256xbf16> into tensor<?x?x4x64xbf16>
    %qn = delta.l2_norm %qh : tensor<?x?x4x64xbf16>
    %kn = delta.l2_norm %kh : tensor<?x?x4x64xbf16>
    %bl = delta.linear %h, %wb : tensor<?x?x256xbf16>, tensor<4x256xbf16> -> tensor<?x?x4xbf16>
    %beta = delta.activation sigmoid %bl : tensor<?x?x4xbf16>
    %o, %state = delta.delta_rule %qn, %kn, %vh, %beta : tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4xbf16> -> tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>
    %gp = delta.linear %h, %wg : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %gh = tensor.expand_shape %gp [[0], [1], [2, 3]] output_shape [%b, %t, 4, 64] : tensor<?x?x256xbf16> into tensor<?x?x4x64xbf16>
    %on = delta.rms_norm %o, %onorm gate(%gh : tensor<?x?x4x64xbf16>) : tensor<?x?x4x64xbf16>, tensor<64xbf16> -> tensor<?x?x4x64xbf16>
    %oc = tensor.collapse_shape %on [[0], [1], [2, 3]] : tensor<?x?x4x64xbf16> into tensor<?x?x256xbf16>
    %op = delta.linear %oc, %wo : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %x1 = arith.addf %x, %op : tensor<?x?x256xbf16>
    %mlp_h = delta.rms_norm %x1, %mlp_norm : tensor<?x?x256xbf16>, tensor<256xbf16> -> tensor<?x?x256xbf16>
    %mlp_g = delta.linear %mlp_h, %gate : tensor<?x?x256xbf16>, tensor<512x256xbf16> -> tensor<?x?x512xbf16>
    %mlp_u = delta.linear %mlp_h, %up : tensor<?x?x256xbf16>, tensor<512x256xbf16> -> tensor<?x?x512xbf16>
    %mlp_s = delta.swiglu %mlp_g, %mlp_u : tensor<?x?x512xbf16>
    %mlp_d = delta.linear %mlp_s, %down : tensor<?x?x512xbf16>, tensor<256x512xbf16> -> tensor<?x?x256xbf16>
    %out = arith.addf %x1, %mlp_d : tensor<?x?x256xbf16>
    return %out, %state, %qs, %ks, %vs : tensor<?x?x256xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>
  }

  // x -> RMSNorm -> q, k, v (grouped: 2 KV heads) -> causal softmax
  // attention in a window of 512 with rotary embeddings -> o_proj -> residual;
  // then the MLP as in the DeltaNet layer.
  func.func private @swa_layer(%x: tensor<?x?x256xbf16>, %attn_norm: tensor<256xbf16>, %wq: tensor<256x256xbf16>, %wk: tensor<128x256xbf16>, %wv: tensor<128x256xbf16>, %wo: tensor<256x256xbf16>, %mlp_norm: tensor<256xbf16>, %gate: tensor<512x256xbf16>, %up: tensor<512x256xbf16>, %down: tensor<256x512xbf16>) -> tensor<?x?x256xbf16> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %b = tensor.dim %x, %c0 : tensor<?x?x256xbf16>
    %t = tensor.dim %x, %c1 : tensor<?x?x256xbf16>
    %h = delta.rms_norm %x, %attn_norm : tensor<?x?x256xbf16>, tensor<256xbf16> -> tensor<?x?x256xbf16>
    %qp = delta.linear %h, %wq : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %kp = delta.linear %h, %wk : tensor<?x?x256xbf16>, tensor<128x256xbf16> -> tensor<?x?x128xbf16>
    %vp = delta.linear %h, %wv : tensor<?x?x256xbf16>, tensor<128x256xbf16> -> tensor<?x?x128xbf16>
    %qh = tensor.expand_shape %qp [[0], [1], [2, 3]] output_shape [%b, %t, 4, 64] : tensor<?x?x256xbf16> into tensor<?x?x4x64xbf16>
    %kh = tensor.expand_shape %kp [[0], [1], [2, 3]] output_shape [%b, %t, 2, 64] : tensor<?x?x128xbf16> into tensor<?x?x2x64xbf16>
    %vh = tensor.expand_shape %vp [[0], [1], [2, 3]] output_shape [%b, %t, 2, 64] : tensor<?x?x128xbf16> into tensor<?x?x2x64xbf16>
    %o = delta.attention %qh, %kh, %vh {rope_theta = 1.000000e+04 : f32, window_size = 512 : i64} : tensor<?x?x4x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16> -> tensor<?x?x4x64xbf16>
    %oc = tensor.collapse_shape %o [[0], [1], [2, 3]] : tensor<?x?x4x64xbf16> into tensor<?x?x256xbf16>
    %op = delta.linear %oc, %wo : tensor<?x?x256xbf16>, tensor<256x256xbf16> -> tensor<?x?x256xbf16>
    %x1 = arith.addf %x, %op : tensor<?x?x256xbf16>
    %mlp_h = delta.rms_norm %x1, %mlp_norm : tensor<?x?x256xbf16>, tensor<256xbf16> -> tensor<?x?x256xbf16>
    %mlp_g = delta.linear %mlp_h, %gate : tensor<?x?x256xbf16>, tensor<512x256xbf16> -> tensor<?x?x512xbf16>
    %mlp_u = delta.linear %mlp_h, %up : tensor<?x?x256xbf16>, tensor<512x256xbf16> -> tensor<?x?x512xbf16>
    %mlp_s = delta.swiglu %mlp_g, %mlp_u : tensor<?x?x512xbf16>
    %mlp_d = delta.linear %mlp_s, %down : tensor<?x?x512xbf16>, tensor<256x512xbf16> -> tensor<?x?x256xbf16>
    %out = arith.addf %x1, %mlp_d : tensor<?x?x256xbf16>
    return %out : tensor<?x?x256xbf16>
  }

  // Prefill: ids [B, T] -> logits [B, T, 1024] and, per DeltaNet layer, the
  // final recurrent state and the q/k/v short-convolution states.
  func.func @forward(%ids: tensor<?x?xi64>) -> (tensor<?x?x1024xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>) {
    %embeddings = ml_program.global_load_const @embeddings : tensor<1024x256xbf16>
    %x0 = delta.embedding %ids, %embeddings : tensor<?x?xi64>, tensor<1024x256xbf16> -> tensor<?x?x256xbf16>
    %layers_0_attn_norm = ml_program.global_load_const @layers.0.attn_norm : tensor<256xbf16>
    %layers_0_attn_q_proj = ml_program.global_load_const @layers.0.attn.q_proj : tensor<256x256xbf16>
    %layers_0_attn_k_proj = ml_program.global_load_const @layers.0.attn.k_proj : tensor<256x256xbf16>
    %layers_0_attn_v_proj = ml_program.global_load_const @layers.0.attn.v_proj : tensor<256x256xbf16>
    %layers_0_attn_q_conv1d = ml_program.global_load_const @layers.0.attn.q_conv1d : tensor<256x4xbf16>
    %layers_0_attn_k_conv1d = ml_program.global_load_const @layers.0.attn.k_conv1d : tensor<256x4xbf16>
    %layers_0_attn_v_conv1d = ml_program.global_load_const @layers.0.attn.v_conv1d : tensor<256x4xbf16>
    %layers_0_attn_b_proj = ml_program.global_load_const @layers.0.attn.b_proj : tensor<4x256xbf16>
    %layers_0_attn_g_proj = ml_program.global_load_const @layers.0.attn.g_proj : tensor<256x256xbf16>
    %layers_0_attn_o_norm = ml_program.global_load_const @layers.0.attn.o_norm : tensor<64xbf16>
    %layers_0_attn_o_proj = ml_program.global_load_const @layers.0.attn.o_proj : tensor<256x256xbf16>
    %layers_0_mlp_norm = ml_program.global_load_const @layers.0.mlp_norm : tensor<256xbf16>
    %layers_0_mlp_gate_proj = ml_program.global_load_const @layers.0.mlp.gate_proj : tensor<512x256xbf16>
    %layers_0_mlp_up_proj = ml_program.global_load_const @layers.0.mlp.up_proj : tensor<512x256xbf16>
    %layers_0_mlp_down_proj = ml_program.global_load_const @layers.0.mlp.down_proj : tensor<256x512xbf16>
    %x1, %s0, %cq0, %ck0, %cv0 = func.call @deltanet_layer(%x0, %layers_0_attn_norm, %layers_0_attn_q_proj, %layers_0_attn_k_proj, %layers_0_attn_v_proj, %layers_0_attn_q_conv1d, %layers_0_attn_k_conv1d, %layers_0_attn_v_conv1d, %layers_0_attn_b_proj, %layers_0_attn_g_proj, %layers_0_attn_o_norm, %layers_0_attn_o_proj, %layers_0_mlp_norm, %layers_0_mlp_gate_proj, %layers_0_mlp_up_proj, %layers_0_mlp_down_proj) : (tensor<?x?x256xbf16>, tensor<256xbf16>, tensor<256x256xbf16>, tensor<256x256xbf16>, tensor<256x256xbf16>, tensor<256x4xbf16>, tensor<256x4xbf16>, tensor<256x4xbf16>, tensor<4x256xbf16>, tensor<256x256xbf16>, tensor<64xbf16>, tensor<256x256xbf16>, tensor<256xbf16>, tensor<512x256xbf16>, tensor<512x256xbf16>, tensor<256x512xbf16>) -> (tensor<?x?x256xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>)
    %layers_1_attn_norm = ml_program.global_load_const @layers.1.attn_norm : tensor<256xbf16>
    %layers_1_attn_q_proj = ml_program.global_load_const @layers.1.attn.q_proj : tensor<256x256xbf16>
    %layers_1_attn_k_proj = ml_program.global_load_const @layers.1.attn.k_proj : tensor<128x256xbf16>
    %layers_1_attn_v_proj = ml_program.global_load_const @layers.1.attn.v_proj : tensor<128x256xbf16>
    %layers_1_attn_o_proj = ml_program.global_load_const @layers.1.attn.o_proj : tensor<256x256xbf16>
    %layers_1_mlp_norm = ml_program.global_load_const @layers.1.mlp_norm : tensor<256xbf16>
    %layers_1_mlp_gate_proj = ml_program.global_load_const @layers.1.mlp.gate_proj : tensor<512x256xbf16>
    %layers_1_mlp_up_proj = ml_program.global_load_const @layers.1.mlp.up_proj : tensor<512x256xbf16>
    %layers_1_mlp_down_proj = ml_program.global_load_const @layers.1.mlp.down_proj : tensor<256x512xbf16>
    %x2 = func.call @swa_layer(%x1, %layers_1_attn_norm, %layers_1_attn_q_proj, %layers_1_attn_k_proj, %layers_1_attn_v_proj, %layers_1_attn_o_proj, %layers_1_mlp_norm, %layers_1_mlp_gate_proj, %layers_1_mlp_up_proj, %layers_1_mlp_down_proj) : (tensor<?x?x256xbf16>, tensor<256xbf16>, tensor<256x256xbf16>, tensor<128x256xbf16>, tensor<128x256xbf16>, tensor<256x256xbf16>, tensor<256xbf16>, tensor<512x256xbf16>, tensor<512x256xbf16>, tensor<256x512xbf16>) -> tensor<?x?x256xbf16>
    %layers_2_attn_norm = ml_program.global_load_const @layers.2.attn_norm : tensor<256xbf16>
    %layers_2_attn_q_proj = ml_program.global_load_const @layers.2.attn.q_proj : tensor<256x256xbf16>
    %layers_2_attn_k_proj = ml_program.global_load_const @layers.2.attn.k_proj : tensor<256x256xbf16>
    %layers_2_attn_v_proj = ml_program.global_load_const @layers.2.attn.v_proj : tensor<256x256xbf16>
    %layers_2_attn_q_conv1d = ml_program.global_load_const @layers.2.attn.q_conv1d : tensor<256x4xbf16>
    %layers_2_attn_k_conv1d = ml_program.global_load_const @layers.2.attn.k_conv1d : tensor<256x4xbf16>
    %layers_2_attn_v_conv1d = ml_program.global_load_const @layers.2.attn.v_conv1d : tensor<256x4xbf16>
    %layers_2_attn_b_proj = ml_program.global_load_const @layers.2.attn.b_proj : tensor<4x256xbf16>
    %layers_2_attn_g_proj = ml_program.global_load_const @layers.2.attn.g_proj : tensor<256x256xbf16>
    %layers_2_attn_o_norm = ml_program.global_load_const @layers.2.attn.o_norm : tensor<64xbf16>
    %layers_2_attn_o_proj = ml_program.global_load_const @layers.2.attn.o_proj : tensor<256x256xbf16>
    %layers_2_mlp_norm = ml_program.global_load_const @layers.2.mlp_norm : tensor<256xbf16>
    %layers_2_mlp_gate_proj = ml_program.global_load_const @layers.2.mlp.gate_proj : tensor<512x256xbf16>
    %layers_2_mlp_up_proj = ml_program.global_load_const @layers.2.mlp.up_proj : tensor<512x256xbf16>
    %layers_2_mlp_down_proj = ml_program.global_load_const @layers.2.mlp.down_proj : tensor<256x512xbf16>
    %x3, %s2, %cq2, %ck2, %cv2 = func.call @deltanet_layer(%x2, %layers_2_attn_norm, %layers_2_attn_q_proj, %layers_2_attn_k_proj, %layers_2_attn_v_proj, %layers_2_attn_q_conv1d, %layers_2_attn_k_conv1d, %layers_2_attn_v_conv1d, %layers_2_attn_b_proj, %layers_2_attn_g_proj, %layers_2_attn_o_norm, %layers_2_attn_o_proj, %layers_2_mlp_norm, %layers_2_mlp_gate_proj, %layers_2_mlp_up_proj, %layers_2_mlp_down_proj) : (tensor<?x?x256xbf16>, tensor<256xbf16>, tensor<256x256xbf16>, tensor<256x256xbf16>, tensor<256x256xbf16>, tensor<256x4xbf16>, tensor<256x4xbf16>, tensor<256x4xbf16>, tensor<4x256xbf16>, tensor<256x256xbf16>, tensor<64xbf16>, tensor<256x256xbf16>, tensor<256xbf16>, tensor<512x256xbf16>, tensor<512x256xbf16>, tensor<256x512xbf16>) -> (tensor<?x?x256xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>)
    %layers_3_attn_norm = ml_program.global_load_const @layers.3.attn_norm : tensor<256xbf16>
    %layers_3_attn_q_proj = ml_program.global_load_const @layers.3.attn.q_proj : tensor<256x256xbf16>
    %layers_3_attn_k_proj = ml_program.global_load_const @layers.3.attn.k_proj : tensor<128x256xbf16>
    %layers_3_attn_v_proj = ml_program.global_load_const @layers.3.attn.v_proj : tensor<128x256xbf16>
    %layers_3_attn_o_proj = ml_program.global_load_const @layers.3.attn.o_proj : tensor<256x256xbf16>
    %layers_3_mlp_norm = ml_program.global_load_const @layers.3.mlp_norm : tensor<256xbf16>
    %layers_3_mlp_gate_proj = ml_program.global_load_const @layers.3.mlp.gate_proj : tensor<512x256xbf16>
    %layers_3_mlp_up_proj = ml_program.global_load_const @layers.3.mlp.up_proj : tensor<512x256xbf16>
    %layers_3_mlp_down_proj = ml_program.global_load_const @layers.3.mlp.down_proj : tensor<256x512xbf16>
    %x4 = func.call @swa_layer(%x3, %layers_3_attn_norm, %layers_3_attn_q_proj, %layers_3_attn_k_proj, %layers_3_attn_v_proj, %layers_3_attn_o_proj, %layers_3_mlp_norm, %layers_3_mlp_gate_proj, %layers_3_mlp_up_proj, %layers_3_mlp_down_proj) : (tensor<?x?x256xbf16>, tensor<256xbf16>, tensor<256x256xbf16>, tensor<128x256xbf16>, tensor<128x256xbf16>, tensor<256x256xbf16>, tensor<256xbf16>, tensor<512x256xbf16>, tensor<512x256xbf16>, tensor<256x512xbf16>) -> tensor<?x?x256xbf16>
    %norm = ml_program.global_load_const @norm : tensor<256xbf16>
    %lm_head = ml_program.global_load_const @lm_head : tensor<1024x256xbf16>
    %hf = delta.rms_norm %x4, %norm : tensor<?x?x256xbf16>, tensor<256xbf16> -> tensor<?x?x256xbf16>
    %logits = delta.linear %hf, %lm_head : tensor<?x?x256xbf16>, tensor<1024x256xbf16> -> tensor<?x?x1024xbf16>
    return %logits, %s0, %cq0, %ck0, %cv0, %s2, %cq2, %ck2, %cv2 : tensor<?x?x1024xbf16>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x4x64x64xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>, tensor<?x256x3xf32>
  }
}
