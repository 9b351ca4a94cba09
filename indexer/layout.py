"""The index folder's file names, declared once: the build writes them, the stores and tools read them.

    index/
        CURRENT                       name of the live version folder
        v-<time>-<hash>/              one version, written whole, then published by switching CURRENT
            manifest.json             format, model, chunking, sources' fingerprint, files' hashes, build time
            documents.jsonl           doc_id, title, published, url, author, site, description, kind, sha256, text
            passages.jsonl            doc_id, start, end, section, sentences (row numbers in sentences.npy)
            sentences.npy             (n, 3) int64: document number, start, end
            dense.faiss               passage vectors (exact inner-product, or HNSW above a size)
            sentence_vectors.npy      one vector per sentence row, the sentence alone (highlights, "no answer")
            sentence_context_vectors.npy  the same rows, each read with its neighbours (ranking)
            vector_keys.json          a key per embedded text, so a re-index reuses unchanged vectors
            bm25/, bm25_title/        keyword indexes of passage bodies and document titles (bm25s)
            encoder/                  the ONNX query encoder and its tokenizer
"""

from __future__ import annotations

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
PASSAGES = "passages.jsonl"
SENTENCES = "sentences.npy"
DENSE = "dense.faiss"
SENTENCE_VECTORS = "sentence_vectors.npy"
CONTEXT_VECTORS = "sentence_context_vectors.npy"
VECTOR_KEYS = "vector_keys.json"
BODY_KEYWORDS = "bm25"
TITLE_KEYWORDS = "bm25_title"
ENCODER = "encoder"

# What a version cannot be served without (the title index exists only when some document has a title).
REQUIRED = (DOCUMENTS, PASSAGES, DENSE, SENTENCES, SENTENCE_VECTORS, CONTEXT_VECTORS)
