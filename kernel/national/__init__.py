"""The national systems' integration shapes: what a mock's national face and the target
adapter speaking that shape must agree on (one module per shape)."""
