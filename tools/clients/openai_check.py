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
out["retrieved"] = client.models.retrieve("gemma-3-270m-q4_k_m").id

# The penalties as the client sends them act on the answer: a prompt inviting repeats repeats less.
def repeats(**kw):
    r = client.completions.create(model="gemma-3-270m-q4_k_m", prompt="yes yes yes yes yes yes yes yes",
                                  max_tokens=12, temperature=0, **kw)
    return r.choices[0].text.count("yes")
out["penalties"] = {"plain": repeats(), "penalised": repeats(presence_penalty=1.5, frequency_penalty=1.5)}

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
usage_chunk = None
for chunk in client.chat.completions.create(
    model="sage",
    messages=[{"role": "user", "content": "Say hello to the operator."}],
    max_tokens=16,
    temperature=0,  # greedy: a sampled answer may end at its first token
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.choices and chunk.choices[0].finish_reason:
        final = chunk.choices[0].finish_reason
    if not chunk.choices and chunk.usage:
        usage_chunk = chunk.usage.completion_tokens
out["stream"] = {"content": "".join(parts), "chunks": len(parts), "finish_reason": final,
                 "usage_chunk": usage_chunk}

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

# Tools: a forced call, its result sent back, the final answer; then a named call, streamed.
tools = [
    {"type": "function", "function": {"name": "get_battery", "description": "The robot's battery level.",
     "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}},
                    "required": ["unit"]}}},
    {"type": "function", "function": {"name": "get_position", "description": "Where the robot is.",
     "parameters": {"type": "object", "properties": {}}}},
]
ask = [{"role": "user", "content": "What is the battery level in percent?"}]
call = client.chat.completions.create(model="sage", messages=ask, tools=tools, tool_choice="required",
                                      max_tokens=96, temperature=0)
msg = call.choices[0].message
calls = [{"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in (msg.tool_calls or [])]
history = ask + [msg.model_dump(exclude_none=True)] + [
    {"role": "tool", "tool_call_id": c["id"], "content": "87"} for c in calls]
final = client.chat.completions.create(model="sage", messages=history, tools=tools, tool_choice="none",
                                       max_tokens=24, temperature=0)
named = client.chat.completions.create(model="sage", messages=ask, tools=tools, max_tokens=64, temperature=0, stream=True,
                                       tool_choice={"type": "function", "function": {"name": "get_battery"}})
streamed = {"name": "", "arguments": "", "finish_reason": None, "ids": set()}
for chunk in named:
    if not chunk.choices:
        continue
    ch = chunk.choices[0]
    for tc in (ch.delta.tool_calls or []):
        if tc.id:
            streamed["ids"].add(tc.id)
        if tc.function and tc.function.name:
            streamed["name"] += tc.function.name
        if tc.function and tc.function.arguments:
            streamed["arguments"] += tc.function.arguments
    if ch.finish_reason:
        streamed["finish_reason"] = ch.finish_reason
streamed["ids"] = len(streamed["ids"])
streamed["arguments"] = json.loads(streamed["arguments"])
try:
    client.chat.completions.create(model="sage", messages=ask, tools=tools,
                                   tool_choice={"type": "function", "function": {"name": "self_destruct"}})
    bad_choice = None
except openai.BadRequestError as e:
    bad_choice = {"status": e.status_code}
out["tools"] = {"finish_reason": call.choices[0].finish_reason, "calls": calls,
                "final": {"content": final.choices[0].message.content, "finish_reason": final.choices[0].finish_reason,
                          "tool_calls": final.choices[0].message.tool_calls},
                "streamed": streamed, "bad_choice": bad_choice}

print(json.dumps(out))
