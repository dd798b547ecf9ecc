"""Source image to canvas: geometry, breast mask, quality checks."""
