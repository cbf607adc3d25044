#!/usr/bin/python3
"""Golden renderings of real chat templates, made the way transformers' apply_chat_template makes them.

Regenerate from the repository root (TZ=UTC matters only for the sanity check; the fixed clock is built in):

    TZ=UTC /usr/bin/python3 tests/reference/gen_chat_templates.py

Writes tests/tokenize/chat_templates/goldens.json, a JSON list with one case per line. Made with Debian
bookworm's python3 3.11.2, python3-jinja2 3.1.2-1+deb12u3 and python3-markupsafe 2.1.2-1+b1 (printed when it
runs); pip's Jinja2 3.1.6 / MarkupSafe 3.0.3 give byte-identical output. transformers is not
installed and not needed: its chat-template configuration is reproduced below, written from its documented
behaviour:

- jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
  extensions=[<generation tracker>, jinja2.ext.loopcontrols]); keep_trailing_newline stays False.
- filter tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) = json.dumps(...).
- globals raise_exception(message) -> jinja2.exceptions.TemplateError(message), and
  strftime_now(format) = datetime.now().strftime(format), here with a fixed clock (NOW_UNIX, TZ=UTC).
- {% generation %}...{% endgeneration %}: renders its body unchanged; the span of the body's output is
  recorded as (start, end) where start = the length of everything the template has yielded so far
  (transformers renders with Template.generate() and joins the chunks it has received).
- render variables: messages, tools (None unless given), documents=None, add_generation_prompt, the special
  tokens (only those that are set; an unset one is undefined in the template), then extra kwargs.

A case is {"template", "probe", "vars", "now_unix", "text", "generation"} or, when rendering fails,
{"template", "probe", "vars", "now_unix", "error"} (raise_exception: the template's message) or
{..., "error_type", "error"} (any other exception: its class name and str()). "generation" holds UTF-8 byte
offsets [begin, end) into "text"; empty spans are dropped.
"""

import datetime
import json
import os
import sys
import time

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox
import markupsafe
from jinja2.exceptions import TemplateError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE_DIR = os.path.join(ROOT, "tests", "tokenize", "chat_templates")
OUT = os.path.join(TEMPLATE_DIR, "goldens.json")
NOW_UNIX = 1733580000  # 2024-12-07 14:00:00 UTC
MARK_BEGIN, MARK_END = "\x00<gen>\x00", "\x00</gen>\x00"

sys.path.insert(0, HERE)
from chat_template_probes import SPECIAL_TOKENS, probes_for  # noqa: E402


class GenerationTracker(jinja2.ext.Extension):
    """The {% generation %} block: output unchanged, spans recorded while a recording is active."""

    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        self.chunks = None  # the list the renderer appends each yielded chunk to
        self.spans = None
        self.markers = False  # self-check mode: wrap each block's output in sentinels instead

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation", []), [], [], body).set_lineno(lineno)

    def _generation(self, caller):
        out = caller()
        if self.markers:
            return MARK_BEGIN + out + MARK_END
        if self.chunks is not None:
            start = sum(len(c) for c in self.chunks)
            self.spans.append((start, start + len(out)))
        return out


def make_environment(now_unix):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateError(message)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(now_unix).strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def tracker_of(env):
    for ext in env.extensions.values():
        if isinstance(ext, GenerationTracker):
            return ext
    raise RuntimeError("no generation tracker")


def render(env, template, vars_):
    """Returns (text, [(begin_char, end_char), ...]) as transformers computes them."""
    kwargs = {"messages": vars_["messages"], "tools": vars_.get("tools"), "documents": None,
              "add_generation_prompt": vars_["add_generation_prompt"]}
    for tok in ("bos_token", "eos_token"):
        if vars_.get(tok) is not None:
            kwargs[tok] = vars_[tok]
    kwargs.update(vars_.get("extra") or {})
    tracker = tracker_of(env)
    chunks, spans = [], []
    tracker.chunks, tracker.spans = chunks, spans
    try:
        for chunk in template.generate(**kwargs):
            chunks.append(chunk)
    finally:
        tracker.chunks = tracker.spans = None
    text = "".join(chunks)
    plain = template.render(**kwargs)  # the tracker off, as apply_chat_template without assistant masks
    assert plain == text, "generate() and render() differ"
    assert spans == marker_spans(template, kwargs), "streamed positions differ from the final ones"
    return text, spans


def marker_spans(template, kwargs):
    """Self-check: the spans found by rendering with sentinels around each block's output."""
    tracker = tracker_of(template.environment)
    tracker.markers = True
    try:
        marked = template.render(**kwargs)
    finally:
        tracker.markers = False
    spans, text_len, stack = [], 0, []
    for i, part in enumerate(marked.split("\x00")):
        if i % 2 == 0:
            text_len += len(part)
        elif "\x00" + part + "\x00" == MARK_BEGIN:
            stack.append(len(spans))
            spans.append([text_len, None])
        else:
            spans[stack.pop()][1] = text_len
    return [tuple(s) for s in spans]


def byte_spans(text, spans):
    out = []
    for b, e in spans:
        if b == e:
            continue
        bb = len(text[:b].encode("utf-8"))
        out.append([bb, bb + len(text[b:e].encode("utf-8"))])
    return out


def case_for(env, name, template, probe, vars_):
    case = {"template": name, "probe": probe, "vars": vars_, "now_unix": NOW_UNIX}
    try:
        text, spans = render(env, template, vars_)
    except TemplateError as e:
        if type(e) is TemplateError:  # raise_exception(); UndefinedError & co. are subclasses
            case["error"] = e.message
        else:
            case["error_type"], case["error"] = type(e).__name__, str(e)
        return case
    except Exception as e:  # TypeError, ValueError, ... from operations on the variables
        case["error_type"], case["error"] = type(e).__name__, str(e)
        return case
    case["text"] = text
    case["generation"] = byte_spans(text, spans)
    return case


def template_files():
    return sorted(f for f in os.listdir(TEMPLATE_DIR) if f.endswith(".jinja"))


def main():
    if os.environ.get("TZ") != "UTC":
        os.environ["TZ"] = "UTC"
        time.tzset()
    assert datetime.datetime.fromtimestamp(NOW_UNIX).strftime("%Y-%m-%d %H:%M") == "2024-12-07 14:00"
    env = make_environment(NOW_UNIX)
    cases = []
    for fname in template_files():
        with open(os.path.join(TEMPLATE_DIR, fname), encoding="utf-8", newline="") as f:
            source = f.read()
        template = env.from_string(source)
        name = fname[: -len(".jinja")]
        bos, eos = SPECIAL_TOKENS[name]
        for probe, messages, tools, extra in probes_for(name, source):
            for agp in (False, True):
                vars_ = {"messages": messages, "add_generation_prompt": agp, "bos_token": bos, "eos_token": eos}
                if tools is not None:
                    vars_["tools"] = tools
                if extra:
                    vars_["extra"] = extra
                cases.append(case_for(env, fname, template, probe, vars_))
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    print(f"python {sys.version.split()[0]}, jinja2 {jinja2.__version__}, markupsafe "
          f"{getattr(markupsafe, '__version__', '?')}")
    n_err = sum(1 for c in cases if "error" in c)
    n_gen = sum(1 for c in cases if c.get("generation"))
    print(f"{len(template_files())} templates, {len(cases)} cases ({n_err} errors, {n_gen} with generation "
          f"spans), {os.path.getsize(OUT)} bytes -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
