"""The national systems' integration shapes, as both the mocks' faces and the target
adapters speak them: one module per shape (``dvcqg`` for the portal's integration adapter),
holding what both sides must agree on — paths, code tables, date formats."""
