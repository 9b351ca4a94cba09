"""Make citeproc-py 0.11.1 render a new item about 2.3x faster, with output unchanged.

Rendering a document's citation is the slow part of a search answer on a large corpus, where most hits
are documents not rendered before (about 24 ms each; ten hits, a quarter of a second). Half of that is
citeproc looking up the same style macros again and again: every ``<text macro="...">`` asks whether
the macro uses a variable, by an XPath search of the whole style, for every item, although the answer
depends on the style alone. Two lookups are remembered per style:

- ``get_macro(name)``: the macro element of that name;
- ``Text.calls_variable()`` for a macro call: whether the macro (recursively) uses a variable.

Both are keyed by the style's root element (kept alive, and checked by identity, so a key is never
reused by another style). The shim applies only to the citeproc-py version it was measured on; any
other version renders as it ships. tests/test_citations.py checks that every style renders every seed
the same with and without it.
"""

from __future__ import annotations

VERSION = "0.11.1"


def install() -> bool:
    """Patch citeproc's model in place (idempotent); False if citeproc-py is not the measured version."""
    import citeproc
    import citeproc.model as model

    if getattr(citeproc, "__version__", None) != VERSION:
        return False
    if getattr(model.CitationStylesElement.get_macro, "_kb_memoised", False):
        return True
    macros: dict[tuple[int, str], tuple[object, object]] = {}
    calls: dict[tuple[int, str], tuple[object, bool]] = {}
    plain_get_macro, plain_calls_variable = model.CitationStylesElement.get_macro, model.Text.calls_variable

    def get_macro(self, name):
        root = self.get_root()
        hit = macros.get((id(root), name))
        if hit is None or hit[0] is not root:
            hit = macros[(id(root), name)] = (root, plain_get_macro(self, name))
        return hit[1]

    def calls_variable(self):
        name = self.get("macro")
        if "variable" in self.attrib or name is None:
            return plain_calls_variable(self)
        root = self.get_root()
        hit = calls.get((id(root), name))
        if hit is None or hit[0] is not root:
            hit = calls[(id(root), name)] = (root, plain_calls_variable(self))
        return hit[1]

    get_macro._kb_memoised = True
    model.CitationStylesElement.get_macro = get_macro
    model.Text.calls_variable = calls_variable
    install.originals = (plain_get_macro, plain_calls_variable)
    return True


def uninstall() -> None:
    """Undo ``install`` (for the equivalence test)."""
    import citeproc.model as model

    if hasattr(install, "originals"):
        model.CitationStylesElement.get_macro, model.Text.calls_variable = install.originals
        del install.originals
