// A model whose graph holds a gated delta rule (not executable by the model
// runtime yet).
module {
  ml_program.global private @embeddings(#ml_program.extern : tensor<64x64xbf16>) : tensor<64x64xbf16>
  ml_program.global private @gate(#ml_program.extern : tensor<1x64xbf16>) : tensor<1x64xbf16>
  func.func @forward(%ids: tensor<?x?xi64>) -> tensor<?x?x1x64xbf16> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %e = ml_program.global_load_const @embeddings : tensor<64x64xbf16>
    %w = ml_program.global_load_const @gate : tensor<1x64xbf16>
    %x = delta.embedding %ids, %e : tensor<?x?xi64>, tensor<64x64xbf16> -> tensor<?x?x64xbf16>
    %b = tensor.dim %x, %c0 : tensor<?x?x64xbf16>
    %t = tensor.dim %x, %c1 : tensor<?x?x64xbf16>
    %h = tensor.expand_shape %x [[0], [1], [2, 3]] output_shape [%b, %t, 1, 64] : tensor<?x?x64xbf16> into tensor<?x?x1x64xbf16>
    %g = delta.linear %x, %w : tensor<?x?x64xbf16>, tensor<1x64xbf16> -> tensor<?x?x1xbf16>
    %o, %s = delta.gated_delta_rule %h, %h, %h, %g, %g : tensor<?x?x1x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x1x64xbf16>, tensor<?x?x1xbf16>, tensor<?x?x1xbf16> -> tensor<?x?x1x64xbf16>, tensor<?x1x64x64xf32>
    return %o : tensor<?x?x1x64xbf16>
  }
}
