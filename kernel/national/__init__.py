"""The national systems' integration shapes, as both the mocks' faces and the target
adapters speak them: one module per shape (``dvcqg`` for the portal's integration adapter,
``vdxp`` for the document axis's SDK, ``c06`` for the population database's SOAP), each
holding what both sides must agree on — paths, header names, code tables, date formats,
signing schemes — declared once."""
