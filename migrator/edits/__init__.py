"""Surgical YAML edits: change exactly the characters an edit needs; never re-dump a document.

Why this design (yaml-editing.md §3 approach D, §5): every round-trip library reformats something
(indentation, quotes, comments, `yes` → bool), and SREs review every line of our diffs.  Here libyaml
gives node positions, we decide the smallest text splice that produces the new value, and the
rest of the file is left byte-for-byte alone.  `migrator.verify` then proves the result means what
`apply_to_tree` says it should, under both YAML 1.1 and 1.2 readers.

Vocabulary used below:

* a *splice* is `(start, end, text)` in the coordinates of the text being edited;
* a *slot* is where a node lives: a mapping value, a sequence item, or a document root;
* *content end* is where the last character of a node's text is (libyaml's end marks for block
  collections point at the next token, after comments and blank lines, which is useless for us).

Edits are applied one after the other, each on a freshly composed text, so later edits see earlier
results; a piece table maps every change back to the original text for `EditResult.spans`.

The package, one job a module: `operations` (the edits callers build), `compose` (nodes with
positions), `values` (what a node means to YAML 1.1 and 1.2 readers), `guards` (refusals), `source`
(the text and its style), `locate` (finding the target), `render` (new text), `apply` (edits as
splices, all or nothing), `pieces` (splices mapped back to the original), `embedded` (YAML inside
block scalars), `images` (retagging), `tree` (the same edits on plain trees) and `regions` (where an
edit may change text).  This module re-exports the public API.
"""

from migrator.edits.apply import apply_edits
from migrator.edits.images import retag_image
from migrator.edits.locate import find_document
from migrator.edits.operations import (Append, DeleteKey, Edit, EditEmbedded, EditError, EditResult, SetEnv,
                                       SetImageTag, SetScalar, Upsert)
from migrator.edits.regions import edit_regions
from migrator.edits.tree import apply_to_tree

__all__ = ["Append", "DeleteKey", "Edit", "EditEmbedded", "EditError", "EditResult", "SetEnv", "SetImageTag", "SetScalar",
           "Upsert", "apply_edits", "apply_to_tree", "edit_regions", "find_document", "retag_image"]
