#!/usr/bin/env python3
"""Talks to `sage serve`'s Messages API with the official `anthropic` package (PyPI), as a tool
written against Anthropic's SDK would: plain, with a stop sequence, at its limit,
streamed (through the SDK's own accumulator), with tools and their results, counted, and refused.

Usage: anthropic_check.py BASE_URL   (e.g. http://127.0.0.1:8080, no /v1: the SDK adds it)
Prints one JSON object with what each call returned; the Rust test asserts on it.
"""
import json
import sys

import anthropic

base = sys.argv[1]
client = anthropic.Anthropic(base_url=base, api_key="sage-test-key", max_retries=0, timeout=120)
out = {"anthropic_version": anthropic.__version__}


# This SDK no longer sends sampling settings itself (Anthropic's newer models take none);
# `sage serve` still reads temperature, top_p and top_k, as llama-server and Ollama do.
GREEDY = {"temperature": 0}


def status_of(call):
    try:
        call()
        return None
    except anthropic.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return {"status": e.status_code, "type": body.get("error", {}).get("type"), "message": str(e)}


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


plain = client.messages.create(model="sage", max_tokens=16, extra_body=GREEDY,
                               messages=[{"role": "user", "content": "What is the battery level?"}])
out["plain"] = {"id": plain.id, "text": text_of(plain), "model": plain.model, "stop_reason": plain.stop_reason,
                "blocks": [b.type for b in plain.content], "input_tokens": plain.usage.input_tokens,
                "output_tokens": plain.usage.output_tokens}

# The stop sequence is a word of the model's own greedy answer (after its first), so that the check
# holds whatever that answer is on this CPU: asked again with it, the answer stops before it.
battery = [{"role": "user", "content": "What is the battery level?"}]
free = client.messages.create(model="gemma-3-270m-q4_k_m", max_tokens=16, extra_body=GREEDY, messages=battery)
# the first word after the first that the text before it does not already hold
chosen, at = "%", 0
for i, w in enumerate(text_of(free).split()):
    at = text_of(free).index(w, at)
    if i > 0 and w not in text_of(free)[:at]:
        chosen = w
        break
    at += len(w)
stopped = client.messages.create(model="gemma-3-270m-q4_k_m", max_tokens=16, extra_body=GREEDY, stop_sequences=[chosen],
                                 messages=battery)
out["stop"] = {"text": text_of(stopped), "stop_reason": stopped.stop_reason, "stop_sequence": stopped.stop_sequence,
               "chosen": chosen, "free": text_of(free)}

short = client.messages.create(model="sage", max_tokens=2, extra_body=GREEDY,
                               messages=[{"role": "user", "content": "Tell me a long story about a robot."}])
out["short"] = {"stop_reason": short.stop_reason, "output_tokens": short.usage.output_tokens}

types = []
deltas = []
with client.messages.stream(model="sage", max_tokens=16, extra_body=GREEDY,
                            messages=[{"role": "user", "content": "Say hello to the operator."}]) as stream:
    for event in stream:
        types.append(event.type)
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            deltas.append(event.delta.text)
    final = stream.get_final_message()
out["stream"] = {"types": types, "deltas": "".join(deltas), "final_text": text_of(final),
                 "stop_reason": final.stop_reason, "output_tokens": final.usage.output_tokens}

tools = [
    {"name": "get_battery", "description": "The robot's battery level.",
     "input_schema": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}},
                      "required": ["unit"]}},
    {"name": "get_position", "description": "Where the robot is.", "input_schema": {"type": "object", "properties": {}}},
]
ask = [{"role": "user", "content": "What is the battery level in percent?"}]
called = client.messages.create(model="sage", max_tokens=96, extra_body=GREEDY, tools=tools, tool_choice={"type": "any"},
                                messages=ask)
uses = [b for b in called.content if b.type == "tool_use"]
history = ask + [{"role": "assistant", "content": [b.model_dump() for b in called.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": b.id, "content": "87"} for b in uses]}]
answered = client.messages.create(model="sage", max_tokens=24, extra_body=GREEDY, tools=tools, tool_choice={"type": "none"},
                                  messages=history)
with client.messages.stream(model="sage", max_tokens=64, extra_body=GREEDY, tools=tools, messages=ask,
                            tool_choice={"type": "tool", "name": "get_battery"}) as stream:
    named = stream.get_final_message()
named_uses = [b for b in named.content if b.type == "tool_use"]
out["tools"] = {
    "stop_reason": called.stop_reason,
    "uses": [{"id": b.id, "name": b.name, "input": b.input} for b in uses],
    "answered": {"text": text_of(answered), "blocks": [b.type for b in answered.content],
                 "stop_reason": answered.stop_reason},
    "streamed": {"uses": [{"name": b.name, "input": b.input} for b in named_uses], "stop_reason": named.stop_reason},
}

schema = {"type": "object", "properties": {"battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]}},
          "required": ["battery", "status"], "additionalProperties": False}
js = client.messages.create(model="sage", max_tokens=64, extra_body=GREEDY,
                            messages=[{"role": "user", "content": "Report the battery as JSON."}],
                            output_config={"format": {"type": "json_schema", "schema": schema}})
try:
    parsed = json.loads(text_of(js))
except ValueError:
    parsed = None
out["json_schema"] = {"text": text_of(js), "parsed": parsed}

served = client.messages.create(model="sage", max_tokens=1, messages=ask)
count = client.messages.count_tokens(model="sage", messages=ask)
with_tools = client.messages.count_tokens(model="sage", messages=ask, tools=tools)
out["count"] = {"plain": count.input_tokens, "with_tools": with_tools.input_tokens,
                "served": served.usage.input_tokens + (served.usage.cache_read_input_tokens or 0)}

out["models"] = [m.id for m in client.models.list()]

# Thinking asked for: the default model does not think, so the answer is its text alone.
thought = client.messages.create(model="sage", max_tokens=1100, messages=ask, extra_body=GREEDY,
                                 thinking={"type": "enabled", "budget_tokens": 1024})
out["thinking"] = {"blocks": [b.type for b in thought.content]}

out["refused"] = {
    "model": status_of(lambda: client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=ask)),
    "image": status_of(lambda: client.messages.create(model="sage", max_tokens=8, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}])),
    "server_tool": status_of(lambda: client.messages.create(model="sage", max_tokens=8, messages=ask,
                                                            tools=[{"type": "web_search_20250305", "name": "web_search"}])),
    "temperature": status_of(lambda: client.messages.create(model="sage", max_tokens=8, messages=ask,
                                                            extra_body={"temperature": 1.5})),
    "effort": status_of(lambda: client.messages.create(model="sage", max_tokens=8, messages=ask,
                                                       output_config={"effort": "high"})),
    "key": status_of(lambda: anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0).messages.create(
        model="sage", max_tokens=8, messages=ask)),
}

print(json.dumps(out))
