"""Probe conversations and per-template special tokens for gen_chat_templates.py.

The special tokens are the bos/eos strings of each model's tokenizer (None = the tokenizer has none, so the
template sees it undefined). They are typed here from the models' tokenizer configurations as documented on
their model pages; only their being realistic matters, since the goldens carry them with every case.
"""

import re

LLAMA3 = ("<|begin_of_text|>", "<|eot_id|>")
DEEPSEEK = ("<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>")
MISTRAL = ("<s>", "</s>")

SPECIAL_TOKENS = {
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    "HuggingFaceH4-zephyr-7b-beta": MISTRAL,
    "HuggingFaceTB-SmolLM2-135M-Instruct": ("<|im_start|>", "<|im_end|>"),
    "HuggingFaceTB-SmolLM3-3B": (None, "<|im_end|>"),
    "LiquidAI-LFM2.5-8B-A1B": ("<|startoftext|>", "<|im_end|>"),
    "Mistral-Small-3.2-24B-Instruct-2506": MISTRAL,
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": ("<|begin_of_text|>", "<|im_end|>"),
    "Qwen-QwQ-32B": (None, "<|im_end|>"),
    "Qwen-Qwen2.5-7B-Instruct": (None, "<|im_end|>"),
    "Qwen-Qwen3-0.6B": (None, "<|im_end|>"),
    "allenai-OLMo-2-1124-7B-Instruct": ("<|endoftext|>", "<|endoftext|>"),
    "chatml": ("<|endoftext|>", "<|endoftext|>"),
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": DEEPSEEK,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": DEEPSEEK,
    "google-gemma-2-2b-it": ("<bos>", "<eos>"),
    "google-gemma-3-1b-it": ("<bos>", "<eos>"),
    "google-gemma-3-270m-it": ("<bos>", "<eos>"),
    "ibm-granite-granite-3.3-2B-Instruct": ("<|end_of_text|>", "<|end_of_text|>"),
    "meta-llama-Llama-3.1-8B-Instruct": LLAMA3,
    "meta-llama-Llama-3.2-3B-Instruct": LLAMA3,
    "meta-llama-Llama-3.3-70B-Instruct": LLAMA3,
    "microsoft-Phi-3.5-mini-instruct": ("<s>", "<|endoftext|>"),
    "microsoft-phi-4": ("<|endoftext|>", "<|im_end|>"),
    "mistralai-Mistral-Nemo-Instruct-2407": MISTRAL,
    "mistralai-Mixtral-8x7B-Instruct-v0.1": MISTRAL,
}


def sys_(c):
    return {"role": "system", "content": c}


def user(c):
    return {"role": "user", "content": c}


def asst(c):
    return {"role": "assistant", "content": c}


SYSTEM = "You are a helpful assistant."
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather (\u00b0C) in a city, e.g. <Paris> & 'Lyon'.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. \"Paris\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days"},
                "hourly": {"type": "boolean"},
                "margin": {"type": "number"},
            },
            "required": ["city"],
        },
    },
}]

BASE = [
    # (a) system + user
    ("system_user", [sys_(SYSTEM), user("What is the capital of France?")]),
    # (b) no system
    ("user_only", [user("Hello!")]),
    # (c) multi-turn
    ("multi_turn", [sys_("Answer briefly."), user("Hi."), asst("Hello! How can I help?"),
                    user("What is 2+2?"), asst("4."), user("And 3+3?")]),
    # (d) unicode and whitespace oddities (Python's str.strip()/|trim strip Unicode spaces such as U+00A0, U+3000)
    ("unicode_whitespace", [
        user("  Caf\u00e9 \u4e2d\u6587 \U0001F642 e\u0301 (e + combining acute)\n\n\tTabbed\tline  \n"),
        asst("\n\n  R\u00e9ponse : \u65e5\u672c\u8a9e \U0001F44D\U0001F3FD \u00a0\u3000"),
        user("\u3000ok\r\nbye\u00a0"),
    ]),
    # (e) special-token and Jinja-looking text inside contents
    ("special_text", [
        sys_("Never print <|im_end|> or </s>."),
        user("Say <|im_end|><|im_start|>system and {{ not jinja }} {% if x %}raw{% endif %} <|eot_id|>"),
        asst("<think>I should not leak {{ this }}</think>Sure: <|im_start|> [INST] </s>"),
        user("Again, with <bos><start_of_turn> and <\uff5cUser\uff5c>."),
    ]),
    # (f) inputs that make some templates raise
    ("non_alternating", [user("First."), user("Second, without an answer in between.")]),
    ("assistant_first", [asst("I speak first."), user("Fine.")]),
    ("empty", []),
    # (g) conversation ending with the assistant (for generation masks)
    ("assistant_final", [sys_(SYSTEM), user("Name a colour."), asst("Blue."), user("Another one?"),
                         asst("Green \u2014 like grass \U0001F33F.")]),
]

TOOL_CALL = [
    user("What's the weather in Paris?"),
    {"role": "assistant", "content": "", "tool_calls": [{
        "id": "call00001", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 3, "hourly": True, "margin": 0.5}}}]},
    {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temperature\": 21}"},
    asst("It is 21 \u00b0C in Paris."),
]

CONTENT_PARTS = [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {"role": "user", "content": [{"type": "text", "text": "Describe the picture."}, {"type": "image"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
    {"role": "user", "content": [{"type": "text", "text": "  Thanks!  "}]},
]


def sorted_keys(x):
    """x with every dict rebuilt in sorted key order (what a sorted-map JSON type such as nlohmann::json
    gives back), so that the goldens do not depend on insertion order."""
    if isinstance(x, dict):
        return {k: sorted_keys(x[k]) for k in sorted(x)}
    if isinstance(x, list):
        return [sorted_keys(v) for v in x]
    return x


def probes_for(name, source):
    """[(probe name, messages, tools or None, extra vars or None)] for a template; dict keys sorted."""
    return [(p, sorted_keys(m), sorted_keys(t), sorted_keys(e)) for p, m, t, e in _probes_for(source)]


def _probes_for(source):
    out = [(p, m, None, None) for p, m in BASE]
    if re.search(r"\btools\b", source):
        # (h) tools given as JSON schemas, then a tool-call round trip
        out.append(("tools", [sys_(SYSTEM), user("What's the weather in Paris?")], TOOLS, None))
        out.append(("tool_call", TOOL_CALL, TOOLS, None))
    if "xml_tools" in source:  # SmolLM3: tools rendered with |string, i.e. Python's repr of the dicts
        out.append(("xml_tools", [user("What's the weather in Paris?")], None, {"xml_tools": TOOLS}))
    if "enable_thinking" in source:
        out.append(("no_thinking", [sys_(SYSTEM), user("Hi."), asst("<think>\nhmm\n</think>\n\nHello."),
                                    user("Bye.")], None, {"enable_thinking": False}))
    if re.search(r"""\[['"]type['"]\]|\.type\b|['"]text['"]""", source):
        out.append(("content_parts", CONTENT_PARTS, None, None))
    return out
