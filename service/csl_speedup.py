"""Make citeproc-py 0.11.1 render a new item about 5x faster, with output unchanged.

Rendering a document's citation is the slow part of a search answer on a large corpus, where most hits
are documents not rendered before (about 24 ms each as citeproc ships; ten hits, a quarter of a second).
Most of that is citeproc asking the same questions of the style again and again, by XPath searches,
for every item, although the answers depend on the style alone. Remembered per style (keyed by the
style's or locale's root element, kept alive and checked by identity, so a key is never reused):

- ``get_macro(name)``: the macro element of that name;
- ``Text.calls_variable()`` for a macro call: whether the macro (recursively) uses a variable;
- ``Locale.get_term(name, form, zero_padded)``: a locale term ("and", "n.d.", "retrieved", ...).

Remembered per style element (keyed by the element, which the cache holds: lxml may drop an element's
Python object and make a new one with a new id, but not while it is referenced):

- ``get_layout()``: the element's ``<layout>``;
- ``Names.substitute()``: a ``<names>`` element's ``<substitute>``.

And within one rendering, ``CitationItem.reference`` (the item's data, which citeproc reaches through
three dictionaries about 500 times per item) is remembered on the citation item, a new one per rendering.

The shim applies only to the citeproc-py version it was measured on; any other version renders as it
ships. tests/test_citations.py checks that every style renders every seed and a full record the same
with and without it; bench/experiments/search_and_citation_cost.py measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

VERSION = "0.11.1"


def _remember(cache: dict, key: Hashable, owner: object, compute: Callable[[], object]) -> object:
    """``cache[key]``'s value, computed once: an entry counts only while it holds this very ``owner`` (the
    element whose id is in the key; holding it keeps that id from going to another object)."""
    hit = cache.get(key)
    if hit is None or hit[0] is not owner:
        hit = cache[key] = (owner, compute())
    return hit[1]


def install() -> bool:
    """Patch citeproc's model in place (idempotent); False if citeproc-py is not the measured version."""
    import citeproc
    import citeproc.model as model
    import citeproc.source as source

    if getattr(citeproc, "__version__", None) != VERSION:
        return False
    if getattr(model.CitationStylesElement.get_macro, "_kb_memoised", False):
        return True
    macros: dict[tuple[int, str], tuple[object, object]] = {}
    calls: dict[tuple[int, str], tuple[object, bool]] = {}
    plain_get_macro, plain_calls_variable = model.CitationStylesElement.get_macro, model.Text.calls_variable

    def get_macro(self, name):
        root = self.get_root()
        return _remember(macros, (id(root), name), root, lambda: plain_get_macro(self, name))

    def calls_variable(self):
        name = self.get("macro")
        if "variable" in self.attrib or name is None:
            return plain_calls_variable(self)
        root = self.get_root()
        return _remember(calls, (id(root), name), root, lambda: plain_calls_variable(self))

    terms: dict[tuple[int, str, str | None, bool], tuple[object, object]] = {}
    plain_get_term = model.Locale.get_term
    missing = object()  # a term the locale does not define (get_term raises IndexError)

    def get_term(self, name, form=None, zero_padded=False):
        def lookup():
            try:
                return plain_get_term(self, name, form, zero_padded)
            except IndexError:
                return missing

        root = self.get_root()
        found = _remember(terms, (id(root), name, form, bool(zero_padded)), root, lookup)
        if found is missing:
            raise IndexError
        return found

    plain_reference = source.CitationItem.reference

    def reference(self):
        known = self.__dict__.get("_kb_reference")
        if known is None:
            known = plain_reference.fget(self)
            object.__setattr__(self, "_kb_reference", known)  # CustomDict's own __setattr__ writes dict keys
        return known

    # Two more XPath searches whose answer depends on the style element alone (about 40 a item): the
    # element's <layout>, and a <names> element's <substitute>. lxml may drop and recreate an element's
    # Python object, giving it a new id; the cache holds the element, so its id stays its own.
    layouts: dict[int, tuple[object, object]] = {}
    substitutes: dict[int, tuple[object, object]] = {}
    plain_get_layout, plain_substitute = model.CitationStylesElement.get_layout, model.Names.substitute

    def get_layout(self):
        return _remember(layouts, id(self), self, lambda: plain_get_layout(self))

    def substitute(self):
        return _remember(substitutes, id(self), self, lambda: plain_substitute(self))

    get_macro._kb_memoised = True
    model.CitationStylesElement.get_macro = get_macro
    model.Text.calls_variable = calls_variable
    model.Locale.get_term = get_term
    source.CitationItem.reference = property(reference)
    model.CitationStylesElement.get_layout = get_layout
    model.Names.substitute = substitute
    install.originals = (plain_get_macro, plain_calls_variable, plain_get_term, plain_reference, plain_get_layout,
                         plain_substitute)
    return True


def uninstall() -> None:
    """Undo ``install`` (for the equivalence test)."""
    import citeproc.model as model
    import citeproc.source as source

    if hasattr(install, "originals"):
        (model.CitationStylesElement.get_macro, model.Text.calls_variable, model.Locale.get_term,
         source.CitationItem.reference, model.CitationStylesElement.get_layout,
         model.Names.substitute) = install.originals
        del install.originals
