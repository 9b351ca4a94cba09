"""POST /check: each sentence of a draft with the sources that state it, or flagged."""

from __future__ import annotations

import time
from collections.abc import Mapping

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from service import schemas
from service.check import CheckedSentence, DraftTooLarge, check_draft
from service.citations import cite
from service.routers.deps import ERRORS, SearcherDep
from service.routers.present import span_out
from service.search import Hit
from service.stores import DocumentRecord

router = APIRouter()


def _source(hit: Hit, doc, style: str) -> schemas.CheckSource:
    quote = hit.highlight
    c = cite(doc, quote.start, quote.end, style)
    return schemas.CheckSource(doc_id=hit.doc_id, title=hit.title, start=hit.start, end=hit.end, text=hit.text,
                               quote=span_out(quote), score=hit.score, citation=c.text, in_text=c.in_text,
                               reference=c.reference)


def _checked(c: CheckedSentence, docs: Mapping[str, DocumentRecord], style: str) -> schemas.CheckedSentence:
    return schemas.CheckedSentence(
        start=c.start, end=c.end, text=c.text, supported=c.supported, confidence=round(c.probability, 4),
        sources=[_source(h, docs[h.doc_id], style) for h in c.sources],
        related=[_source(h, docs[h.doc_id], style) for h in c.related],
    )


@router.post("/check", response_model=schemas.CheckResponse, responses={413: {"model": schemas.ErrorBody}, **ERRORS},
             summary="Check a draft: each sentence with the sources that state it, or flagged")
async def check(s: SearcherDep, body: schemas.CheckRequest) -> schemas.CheckResponse:
    began = time.perf_counter()
    try:
        checked = await run_in_threadpool(check_draft, s, body.text)  # one batched encode, off the loop
    except DraftTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from None
    sentences = [_checked(c, s.doc_by_id, body.style) for c in checked]
    supported = sum(c.supported for c in checked)
    return schemas.CheckResponse(sentences=sentences, supported=supported, unsupported=len(checked) - supported,
                                 took_ms=round((time.perf_counter() - began) * 1000, 3))
