"""Drive `sage serve`'s Ollama API with the official `ollama` Python client; print one JSON object.

    PYTHONPATH=<dir with ollama> python3 ollama_check.py http://127.0.0.1:PORT MODEL
"""
import json
import sys

import ollama

host, model = sys.argv[1], sys.argv[2]
client = ollama.Client(host=host)
out = {}

out["tags"] = [m.model for m in client.list().models]
out["pull"] = client.pull(model).status  # the zoo's model is there already

r = client.chat(model=model, messages=[{"role": "user", "content": "Name a color."}],
                options={"num_predict": 8, "temperature": 0}, stream=False)
out["chat"] = {"content": r.message.content, "done": r.done, "eval_count": r.eval_count,
               "prompt_eval_count": r.prompt_eval_count, "done_reason": r.done_reason}

parts = list(client.chat(model=model, messages=[{"role": "user", "content": "Count: one, two,"}],
                         options={"num_predict": 8, "temperature": 0}, stream=True))
out["chat_stream"] = {"chunks": len(parts), "last_done": parts[-1].done,
                      "content": "".join(p.message.content for p in parts)}

# Greedy: a sampled answer may end at its first token (and a seed repeats only when the cache
# around it does, decision 0009).
g = client.generate(model=model, prompt="The robot entered the warehouse and", options={"num_predict": 6, "temperature": 0})
out["generate"] = {"response": g.response, "done": g.done}

gs = list(client.generate(model=model, prompt="Water boils at", options={"num_predict": 6, "temperature": 0}, stream=True))
out["generate_stream"] = {"chunks": len(gs), "last_done": gs[-1].done}

js = client.chat(model=model, messages=[{"role": "user", "content": "Give the battery as JSON."}],
                 format={"type": "object", "properties": {"battery": {"type": "integer"}}, "required": ["battery"]},
                 options={"num_predict": 64, "temperature": 0})  # greedy: the same object every run
try:
    out["json"] = json.loads(js.message.content)
except ValueError:
    out["json"] = None

emb = client.embed(model=model, input=["The battery is almost empty.", "The battery is nearly flat.", "Paris is in France."])
vecs = emb.embeddings
cos = lambda a, b: sum(x * y for x, y in zip(a, b))
out["embed"] = {"count": len(vecs), "dim": len(vecs[0]), "norm": sum(x * x for x in vecs[0]) ** 0.5,
                "similar": cos(vecs[0], vecs[1]), "unrelated": cos(vecs[0], vecs[2])}

# The older endpoint (deprecated in the client, still called by older embedders): one text.
old = client.embeddings(model=model, prompt="The battery is almost empty.")
out["embeddings_legacy"] = {"dim": len(old.embedding), "same": cos(old.embedding, vecs[0]),
                            "empty": len(client.embeddings(model=model, prompt="").embedding)}

out["ps"] = [m.model for m in client.ps().models]
s = client.show(model)
info = s.modelinfo or {}
arch = info.get("general.architecture", "")
out["show"] = {"capabilities": list(s.capabilities or []), "family": s.details.family,
               "parameter_size": s.details.parameter_size, "quantization_level": s.details.quantization_level,
               "context_length": info.get(f"{arch}.context_length")}
listed = client.list().models[0].details
out["tags_details"] = {"family": listed.family, "quantization_level": listed.quantization_level,
                       "digest": client.list().models[0].digest}

client.chat(model=model, messages=[], keep_alive=0)
out["ps_after_unload"] = [m.model for m in client.ps().models]

try:
    client.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    out["unknown"] = None
except ollama.ResponseError as e:
    out["unknown"] = {"status": e.status_code}

# Tools: Ollama has no tool_choice, so `format` holds the answer to the calls' JSON form; the
# calls come back as message.tool_calls, go back into the history with the tool's result, and
# the model answers in words.
tools = [{"type": "function", "function": {"name": "get_battery", "description": "The robot's battery level.",
          "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}},
                         "required": ["unit"]}}}]
forced = {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object", "properties": {
    "name": {"const": "get_battery"}, "arguments": tools[0]["function"]["parameters"]}, "required": ["name", "arguments"]}}
ask = [{"role": "user", "content": "What is the battery level in percent?"}]
called = client.chat(model=model, messages=ask, tools=tools, format=forced, options={"num_predict": 64, "temperature": 0})
tc = called.message.tool_calls or []
calls = [{"name": c.function.name, "arguments": dict(c.function.arguments)} for c in tc]
history = ask + [{"role": "assistant", "content": "", "tool_calls": [{"function": c} for c in calls]},
                 {"role": "tool", "content": "87"}]
final = client.chat(model=model, messages=history, tools=tools, options={"num_predict": 24, "temperature": 0})
streamed = list(client.chat(model=model, messages=ask, tools=tools, format=forced, stream=True,
                            options={"num_predict": 64, "temperature": 0}))
stream_calls = [c.function.name for ch in streamed for c in (ch.message.tool_calls or [])]
out["tools"] = {"calls": calls, "content": called.message.content, "final": final.message.content,
                "final_calls": len(final.message.tool_calls or []), "stream_calls": stream_calls,
                "stream_text": "".join(ch.message.content or "" for ch in streamed)}

print(json.dumps(out))
