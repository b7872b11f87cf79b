#!/usr/bin/env python3
"""Talks to `sage serve`'s Responses API with the official `openai` package (PyPI), as a user's
tool would: plain, chained with previous_response_id, streamed (through the SDK's own event
accumulator), schema-constrained, with function tools, retrieved and deleted, and refused.

Usage: openai_responses_check.py BASE_URL   (e.g. http://127.0.0.1:8080/v1)
Prints one JSON object with what each call returned; the Rust test asserts on it.
"""
import json
import sys

import openai

base = sys.argv[1]
client = openai.OpenAI(base_url=base, api_key="sage-test-key", max_retries=0, timeout=120)
out = {"openai_version": openai.__version__}


def status_of(call):
    try:
        call()
        return None
    except openai.APIStatusError as e:
        return {"status": e.status_code, "code": e.code, "message": str(e)}


first = client.responses.create(model="sage", input="What is the battery level?", max_output_tokens=16, temperature=0)
out["plain"] = {"id": first.id, "text": first.output_text, "status": first.status, "model": first.model,
                "input_tokens": first.usage.input_tokens, "output_tokens": first.usage.output_tokens,
                "items": [o.type for o in first.output]}

second = client.responses.create(model="sage", input="And where is the robot now?", previous_response_id=first.id,
                                 max_output_tokens=16, temperature=0)
out["chained"] = {"text": second.output_text, "previous": second.previous_response_id,
                  "input_tokens": second.usage.input_tokens,
                  "cached_tokens": second.usage.input_tokens_details.cached_tokens}

with_instructions = client.responses.create(model="sage", instructions="You are a terse robot. Answer in one word.",
                                            input=[{"role": "user", "content": [{"type": "input_text", "text": "Status?"}]}],
                                            max_output_tokens=8, temperature=0)
out["instructions"] = {"text": with_instructions.output_text, "echoed": with_instructions.instructions,
                       "input_tokens": with_instructions.usage.input_tokens}

# Streamed, through the SDK's accumulator, which rebuilds the response from the events.
types = []
deltas = []
with client.responses.stream(model="sage", input="Say hello to the operator.", max_output_tokens=16,
                             temperature=0) as stream:
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
    final = stream.get_final_response()
out["stream"] = {"types": types, "deltas": "".join(deltas), "final_text": final.output_text, "status": final.status,
                 "id": final.id}

schema = {"type": "object", "properties": {"battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]}},
          "required": ["battery", "status"], "additionalProperties": False}
js = client.responses.create(model="sage", input="Report the battery as JSON.", max_output_tokens=64, temperature=0,
                             text={"format": {"type": "json_schema", "name": "report", "schema": schema, "strict": True}})
try:
    parsed = json.loads(js.output_text)
except ValueError:
    parsed = None
out["json_schema"] = {"text": js.output_text, "parsed": parsed}

tools = [
    {"type": "function", "name": "get_battery", "description": "The robot's battery level.",
     "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}},
                    "required": ["unit"], "additionalProperties": False}, "strict": True},
    {"type": "function", "name": "get_position", "description": "Where the robot is.",
     "parameters": {"type": "object", "properties": {}}},
]
call = client.responses.create(model="sage", input="What is the battery level in percent?", tools=tools,
                               tool_choice="required", max_output_tokens=96, temperature=0)
calls = [o for o in call.output if o.type == "function_call"]
results = [{"type": "function_call_output", "call_id": c.call_id, "output": "87"} for c in calls]
answered = client.responses.create(model="sage", previous_response_id=call.id, input=results, tools=tools,
                                   tool_choice="none", max_output_tokens=24, temperature=0)
named_types = []
with client.responses.stream(model="sage", input="What is the battery level?", tools=tools, max_output_tokens=64,
                             temperature=0, tool_choice={"type": "function", "name": "get_battery"}) as stream:
    for event in stream:
        named_types.append(event.type)
    named = stream.get_final_response()
named_calls = [o for o in named.output if o.type == "function_call"]
out["tools"] = {
    "calls": [{"name": c.name, "call_id": c.call_id, "arguments": json.loads(c.arguments)} for c in calls],
    "answered": {"text": answered.output_text, "items": [o.type for o in answered.output]},
    "streamed": {"names": [c.name for c in named_calls],
                 "arguments": [json.loads(c.arguments) for c in named_calls], "types": named_types},
}

short = client.responses.create(model="sage", input="Tell me a long story about a robot.", max_output_tokens=2,
                                temperature=0)
out["incomplete"] = {"status": short.status,
                     "reason": short.incomplete_details.reason if short.incomplete_details else None}

# A reasoning effort, as Codex and other agents send it: accepted (this model does not think).
effort = client.responses.create(model="sage", input="Status?", max_output_tokens=4, reasoning={"effort": "low", "summary": "auto"})
out["effort"] = {"status": effort.status, "echoed": effort.reasoning.effort if effort.reasoning else None}

retrieved = client.responses.retrieve(first.id)
deleted = client.responses.delete(first.id)
out["stored"] = {"retrieved": retrieved.id, "text": retrieved.output_text, "deleted": deleted is None,
                 "after": status_of(lambda: client.responses.retrieve(first.id)),
                 "not_stored": status_of(lambda: client.responses.retrieve(
                     client.responses.create(model="sage", input="hi", max_output_tokens=2, store=False).id))}

out["refused"] = {
    "previous": status_of(lambda: client.responses.create(model="sage", input="hi", previous_response_id="resp_nope")),
    "image": status_of(lambda: client.responses.create(model="sage", input=[{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://example.com/a.png"}]}])),
    "reasoning": status_of(lambda: client.responses.create(model="sage", input="hi", reasoning={"effort": "extreme"})),
    "web_search": status_of(lambda: client.responses.create(model="sage", input="hi", tools=[{"type": "web_search"}])),
    "model": status_of(lambda: client.responses.create(model="no-such-model", input="hi")),
}

print(json.dumps(out))
