"""JSON Schemas shipped with mesh-migrator; this directory is packaged as ``migrator.schemas`` (data only)."""
