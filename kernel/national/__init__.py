"""What a mock face and a target adapter of one national integration shape both need
(header names, date formats, signing schemes, status mapping tables), declared once."""
