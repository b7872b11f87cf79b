#!/usr/bin/env python3
"""Talks to `sage serve` with the official `openai` package (PyPI), as a user's tool would.

Usage: openai_check.py BASE_URL   (e.g. http://127.0.0.1:8080/v1)
Prints one JSON object with what each call returned; the Rust test asserts on it.
"""
import json
import sys

import openai

base = sys.argv[1]
client = openai.OpenAI(base_url=base, api_key="sage-test-key", max_retries=0, timeout=120)
out = {"openai_version": openai.__version__}

models = client.models.list()
out["models"] = [m.id for m in models.data]

plain = client.chat.completions.create(
    model="sage",
    messages=[{"role": "user", "content": "What is the battery level?"}],
    max_tokens=16,
    temperature=0,
)
out["plain"] = {"content": plain.choices[0].message.content, "model": plain.model,
                "finish_reason": plain.choices[0].finish_reason,
                "completion_tokens": plain.usage.completion_tokens}

parts = []
final = None
for chunk in client.chat.completions.create(
    model="sage",
    messages=[{"role": "user", "content": "Say hello to the operator."}],
    max_tokens=16,
    temperature=0,  # greedy: a sampled answer may end at its first token
    stream=True,
):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.choices and chunk.choices[0].finish_reason:
        final = chunk.choices[0].finish_reason
out["stream"] = {"content": "".join(parts), "chunks": len(parts), "finish_reason": final}

lp = client.chat.completions.create(
    model="sage",
    messages=[{"role": "user", "content": "Is the dock free?"}],
    max_tokens=8,
    temperature=0,
    logprobs=True,
    top_logprobs=2,
)
content = lp.choices[0].logprobs.content
out["logprobs"] = {"tokens": len(content), "first": content[0].logprob if content else None,
                   "top": len(content[0].top_logprobs) if content else 0}

schema = {"type": "object", "properties": {"battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]}},
          "required": ["battery", "status"]}
js = client.chat.completions.create(
    model="sage",
    messages=[{"role": "user", "content": "Report the battery as JSON."}],
    max_tokens=64,
    temperature=0,  # greedy: the same object every run (a sampled one may still be open at the limit)
    response_format={"type": "json_schema", "json_schema": {"name": "report", "schema": schema}},
)
text = js.choices[0].message.content
try:
    parsed = json.loads(text)
except ValueError:
    parsed = None
out["json_schema"] = {"text": text, "parsed": parsed}

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    out["unknown_model"] = None
except openai.NotFoundError as e:
    out["unknown_model"] = {"status": e.status_code, "code": e.code}

try:
    client.chat.completions.create(model="sage", messages=[{"role": "user", "content": "word " * 5000}], max_tokens=8)
    out["overflow"] = None
except openai.BadRequestError as e:
    out["overflow"] = {"status": e.status_code, "code": e.code}

completion = client.completions.create(model="sage", prompt="The robot entered the warehouse and", max_tokens=8, temperature=0)
out["completion"] = {"text": completion.choices[0].text, "finish_reason": completion.choices[0].finish_reason}

emb = client.embeddings.create(model="sage", input=["The battery is almost empty.", "Paris is in France."])
out["embeddings"] = {"count": len(emb.data), "dim": len(emb.data[0].embedding), "model": emb.model,
                     "prompt_tokens": emb.usage.prompt_tokens}

print(json.dumps(out))
