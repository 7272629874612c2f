func.func @f(%x: tensor<2x8x256xbf16>, %w: tensor<256xbf16>) -> tensor<2x8x256xbf16> {
  %y = delta.rms_norm %x, %w : tensor<2x8x256xbf16>, tensor<256xbf16> -> tensor<2x8x256xbf16>
  return %y : tensor<2x8x256xbf16>
}
