"""Request and response models: the OpenAPI page at /docs is the contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["hybrid", "dense", "keyword"]
Style = Literal["apa", "chicago", "mla", "harvard", "markdown", "plain"]
STYLE_HELP = ("citation style: apa (APA 7, default), chicago (author-date), mla, harvard, markdown (a blockquote "
              "with the APA reference) or plain")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, description="the question, in plain words")
    k: int = Field(10, ge=1, le=100, description="how many passages at most")
    mode: Mode = Field("hybrid", description="hybrid (default), dense only, or keyword (BM25) only")
    doc_ids: list[str] | None = Field(None, max_length=1000, description="search only these documents")
    min_score: float | None = Field(
        None, ge=0.0, le=1.0,
        description="'no answer' threshold on the probability that the best passage answers (default 0.4; 0: never)",
    )
    style: Style = Field("apa", description=STYLE_HELP)


class Span(BaseModel):
    start: int = Field(description="offset of the first character in the document text")
    end: int = Field(description="offset after the last character; text == document[start:end]")
    text: str


class CitationOut(BaseModel):
    style: Style
    doc_id: str
    start: int
    end: int
    quote: str = Field(description="verbatim: exactly the document text [start:end]")
    reference: str = Field(description="the source's reference entry, plain text")
    reference_html: str = Field(description="the same with the style's italics (<i>)")
    in_text: str = Field(description="in-text citation, with the paragraph the quote starts in as locator")
    paragraph: int = Field(description="1-based paragraph (non-empty line) of the document where the quote starts")
    text: str = Field(description="quote, in-text citation and reference, ready to paste")


class SearchResult(BaseModel):
    rank: int
    score: float = Field(description="relevance, higher is better (comparable within one response)")
    doc_id: str
    title: str
    section: str | None = Field(description="heading the passage sits under, if any")
    start: int
    end: int
    text: str = Field(description="verbatim: exactly the document text [start:end]")
    highlight: Span = Field(description="the sentence or two that best answer the question")
    context_before: Span | None = Field(description="the sentence before the passage")
    context_after: Span | None = Field(description="the sentence after the passage")
    citation: CitationOut = Field(description="citation of the highlight (APA unless another style is asked)")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    results: list[SearchResult] = Field(description="best first; empty when the sources do not answer the query")
    message: str | None = Field(None, description="why the list is empty, or that a corrected query was searched")
    suggestion: str | None = Field(None, description="the query with unknown words corrected ('did you mean'), "
                                                     "when the query as typed found no answer")
    took_ms: float


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    published: str | None = Field(description="publication date, YYYY-MM-DD")
    url: str | None
    author: str | None
    site: str | None
    length: int = Field(description="characters of text")
    passages: int


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class DocumentFull(DocumentSummary):
    sha256: str
    text: str = Field(description="the full text that offsets point into")
    indexed: list[tuple[int, int]] = Field(
        description="[start, end) ranges the passages cover; the rest (site navigation, footers) is not searched")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    ready: bool
    index_version: str | None = None
    passages: int | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: str | list = Field(description="what was wrong with the request")


class Reloaded(BaseModel):
    reloaded: bool = Field(description="false when the newest version was already loaded")
    index_version: str
    passages: int


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="the draft: a paragraph or a few (at most 20,000 characters, "
                                                "200 sentences)")
    style: Style = Field("apa", description=STYLE_HELP)


class CheckSource(BaseModel):
    doc_id: str
    title: str
    start: int = Field(description="the passage that states it: text == document[start:end]")
    end: int
    text: str
    quote: Span = Field(description="the sentence(s) of the passage closest to the claim, to paste")
    score: float
    citation: str = Field(description="the quote and its reference, ready to paste")
    in_text: str = Field(description="in-text citation of the quote")
    reference: str = Field(description="the source's reference entry")


class CheckedSentence(BaseModel):
    start: int = Field(description="offset in the submitted text: text == draft[start:end]")
    end: int
    text: str
    supported: bool = Field(description="the sources state what the sentence says")
    confidence: float = Field(description="probability that the best passage states it")
    sources: list[CheckSource] = Field(description="what states it, best first; empty when unsupported")
    related: list[CheckSource] = Field(description="closest passages of an unsupported sentence: NOT support")


class CheckResponse(BaseModel):
    sentences: list[CheckedSentence]
    supported: int
    unsupported: int
    took_ms: float
