func.func @f(%x: tensor<2x8x256xbf16>) {
  %y = delta.l2_norm %x : tensor<2x8x256xbf16
  return
}
