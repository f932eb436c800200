"""Renderers of one ScanResult: text (rich), JSON, and (CI formats) SARIF and Markdown."""
