#!/usr/bin/python3
"""Expected renderings for tests/tokenize/jinja_test.cpp: each case below rendered by Python's jinja2 configured as
transformers' apply_chat_template configures it (the same environment as gen_chat_templates.py: sandboxed,
trim_blocks + lstrip_blocks, loopcontrols, the {% generation %} tracker, transformers' tojson, raise_exception and
strftime_now on a fixed clock in UTC).

Regenerate from the repository root:

    TZ=UTC /usr/bin/python3 tests/reference/gen_jinja_cases.py

Writes tests/tokenize/jinja_cases.json: a list of {"template", "vars", "text", "generation"} or, when rendering
fails, {"template", "vars", "raised"} (raise_exception's message) or {"template", "vars", "error"} (any other
jinja2 error: its class and message; the C++ side only checks that some lm::Error is thrown).
"""

import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox
from jinja2.exceptions import TemplateError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_chat_templates import GenerationTracker, make_environment  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "tokenize", "jinja_cases.json")
NOW_UNIX = 1733580000  # 2024-12-07 14:00:00 UTC

DEFAULT_VARS = {
    "messages": [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hi <b> \"x\" \u00e9"},
        {"role": "assistant", "content": "Hello!"},
    ],
    "add_generation_prompt": True,
    "bos_token": "<s>",
    "eos_token": "</s>",
}


def make_env():
    """transformers' environment (gen_chat_templates.py), strftime_now at NOW_UNIX (run with TZ=UTC)."""
    return make_environment(NOW_UNIX)


def render(template, v):
    env = make_env()
    tracker = next(e for e in env.extensions.values() if isinstance(e, GenerationTracker))
    case = {"template": template, "vars": v}
    try:
        t = env.from_string(template)
        kw = dict(messages=v.get("messages", []), tools=v.get("tools"), documents=None,
                  add_generation_prompt=v.get("add_generation_prompt", False))
        for k in ("bos_token", "eos_token"):
            if v.get(k):
                kw[k] = v[k]
        tracker.chunks, tracker.spans = [], []
        for chunk in t.generate(**kw):
            tracker.chunks.append(chunk)
        text = "".join(tracker.chunks)

        def b(i):
            return len(text[:i].encode("utf-8"))

        case["text"] = text
        case["generation"] = [[b(s), b(e)] for s, e in tracker.spans if e > s]
    except TemplateError as e:
        if type(e) is TemplateError:
            case["raised"] = str(e)
        else:
            case["error"] = "%s: %s" % (type(e).__name__, e)
    except Exception as e:  # TypeError, ZeroDivisionError, ... from inside the template
        case["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        tracker.chunks = tracker.spans = None
    return case


# (template, vars or None for DEFAULT_VARS)
CASES = [
    ("{% for m in messages %}<|{{ m.role }}|>\n{{ m['content'] }}\n{% endfor %}\n{% if add_generation_prompt %}<|assistant|>{% endif %}", None),
    ("{{- bos_token }}{%- for message in messages %}\n    {%- if message['role'] == 'user' %}\n        {{- '[INST] ' + message['content'] | trim + ' [/INST]' }}\n    {%- elif message['role'] == 'assistant' %}\n        {% generation %}{{- ' ' + message['content'] | trim + eos_token }}{% endgeneration %}\n    {%- endif %}\n{%- endfor %}", None),
    ("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n {# c #}\nz {%+ if 1 %}a{% endif +%}\nb", None),
    ('{{ 1 }} {{ 1.0 }} {{ 1e-5 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ 2 ** 10 }} {{ 10 / 4 }}', None),
    ('{{ none }} {{ true }} {{ [1, \'a\', "b\'c", none, {\'k\': 1.5}] }} {{ (1,) }} {{ (\'a\', 2) }} {{ x }} {{ \'a\' ~ 1 ~ none }}', None),
    ('{{ messages | tojson }}\n{{ messages[0] | tojson(indent=2) }}\n{{ {\'a\': [1, 2, {}], \'b\': []} | tojson(indent=4) }}\n{{ "é\\n\\u0001" | tojson }}', None),
    ("{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }}", None),
    ("{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }} {{ loop.first }} {{ loop.last }} {{ loop.revindex }} {{ loop.previtem.role if loop.previtem is defined }}|{% endfor %}", None),
    ('{% for k, v in messages[0] | items %}{{ k }}={{ v }};{% endfor %}{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}', None),
    ("{% macro render(x, indent=0) %}{% if x is mapping %}{% for k, v in x.items() %}{{ ' ' * indent }}{{ k }}:\n{{ render(v, indent + 2) }}{% endfor %}{% else %}{{ ' ' * indent }}{{ x }}\n{% endif %}{% endmacro %}{{ render({'a': {'b': 1, 'c': [1,2]}, 'd': 'x'}) }}", None),
    ("{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | map(attribute='role') | join(', ') }} {{ messages | rejectattr('role', 'eq', 'system') | map(attribute='content') | first }}", None),
    ("{{ 'Hello World'.split() }} {{ 'a,b,,c'.split(',') }} {{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} {{ 'hello'.title() }} {{ 'hello world'|title }} {{ 'HeLLo'.capitalize() }} {{ 'abcabc'.find('c') }} {{ 'aaa'.replace('a', 'b', 2) }}", None),
    ("{{ 'abcdef'[1:3] }} {{ 'abcdef'[::-1] }} {{ [1,2,3,4][1:] }} {{ [1,2,3][-1] }} {{ 'héllo'[1] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3][5] }}|", None),
    ('{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}', None),
    ('{% for x in [] %}a{% else %}empty{% endfor %}', None),
    ("{{ raise_exception('Only user and assistant roles are supported!') }}", None),
    ("{{ strftime_now('%d %b %Y %B %A %H:%M:%S %y %m %j %p') }}", None),
    ('{{ x.y }}', None),
    ("{{ 'a' if false }}|{{ 1 if true else 2 }}|{{ '' or 'def' }}|{{ 0 and 1 }}|{{ not none }}", None),
    ('{{ "Hi\\tthere" | indent(4) }}\n{{ "a\\nb\\n\\nc" | indent(2) }}\n{{ "a\\nb\\n\\nc" | indent(2, true) }}\n{{ "a\\nb\\n\\nc" | indent(2, first=true, blank=true) }}', None),
    ("{{ x | default('dflt') }} {{ '' | default('e', true) }} {{ none | default('n') }} {{ [3,1,2] | sort }} {{ [1,1,2] | unique | list }} {{ [1,2] | reverse | list }} {{ 'abc' | reverse }} {{ '42' | int + 1 }} {{ '3.5' | float }} {{ -3 | abs }} {{ 3.14159 | round(2) }} {{ 2.5 | round }}", None),
    ("{{ 'x' in 'xyz' }} {{ 'role' in messages[0] }} {{ 2 in [1,2] }} {{ 3 not in [1,2] }} {{ 'a' in none_var }}", None),
    ("{{ [1,2] == [1,2] }} {{ {'a':1} == {'a':1} }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ none == none }} {{ true == 1 }}", None),
    ("{{ 'a' is string }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ x is defined }} {{ x is undefined }} {{ none is none }} {{ [] is iterable }} {{ {} is mapping }} {{ [] is sequence }} {{ true is boolean }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 1 is true }} {{ true is true }}", None),
    ('{%- set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]', None),
    ('{{ "%s-%d" % (\'a\', 3) }} {{ "{} and {}".format(\'x\', \'y\') }} {{ "%05.1f" % 3.14159 }}', None),
    ('{{ [1,2].append(3) }}', None),
    ("a  {#- c -#}  b\n  {# comment #}\nc\n    {%- if true -%}   d   {%- endif -%}\ne {{- ' f ' -}} g", None),
    ('{% raw %}{{ not evaluated }}{% endraw %}\n  {% raw -%}   x {{ y }}  {%- endraw %}\nz', None),
    ('line1\n{% for i in [1,2] %}\n  item {{ i }}\n{% endfor %}\nend\n', None),
    ('{{ \'a\\\'b\' }} {{ "q\\"q" }} {{ \'tab\\there\' }} {{ \'\\u00e9\\x41\\101\' }} {{ \'back\\\\slash\' }} {{ \'unknown\\d\' }}', None),
    ("{{ {'k': 'v', 'n': none, 't': true}|tojson }} {{ [1.5, 2, 'x']|tojson }} {{ 1e100|tojson }} {{ {'a': 'b'}|tojson(sort_keys=true) }}", None),
    ('{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 2) %}{{ t }}{{ t[0] }}', None),
    ('{% with x = 5 %}{{ x }}{% endwith %}{{ x }}', None),
    ("{% filter upper %}hello {{ 'world' }}{% endfilter %}", None),
    ("{% macro m(a, b='B') %}{{ a }}-{{ b }}-{{ varargs }}-{{ kwargs }}{% endmacro %}{{ m(1) }} {{ m(1, 2, 3, c=4) }}", None),
    ('{% macro m(a) %}{{ a }}{% endmacro %}{{ m() }}|{{ m(1, 2) }}', None),
    ('{% macro outer() %}[{{ caller() }}]{% endmacro %}{% call outer() %}inside {{ 1 }}{% endcall %}', None),
    ('{{ loop }}{% for x in [1] %}{% for y in [2] %}{{ loop.depth }}{% endfor %}{% endfor %}', None),
    ("{% for x in [{'c': [{'c': []}]}] recursive %}<{{ loop.depth }}{{ loop(x.c) }}>{% endfor %}", None),
    ("{% for x in 'abc' %}{{ loop.cycle('odd', 'even') }}{{ x }}{% endfor %}", None),
    ("{{ 'abc' | list }} {{ {'b': 1, 'a': 2} | list }} {{ {'b': 1, 'a': 2} | dictsort }} {{ [{'n': 2}, {'n': 1}] | sort(attribute='n') }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}", None),
    ("{{ [1, 2, 3] | sum }} {{ [3, 1, 2] | max }} {{ ['a', 'B'] | min }} {{ 'a b  c' | wordcount }} {{ 'x' | center(5) }}| {{ 'hello world foo' | truncate(9) }} {{ [1,2,3,4,5] | batch(2) | list }}", None),
    ("{{ messages | selectattr('role') | list | length }} {{ [0, 1, 2, none] | select | list }} {{ [1, 2, 3] | reject('odd') | list }} {{ ['a', 'b'] | map('upper') | list }} {{ messages | map(attribute='missing', default='D') | list }}", None),
    ('{{ x.y }}', None),
    ('{{ messages[0].missing }}|{{ messages[0].missing is defined }}|{{ messages[10] is defined }}', None),
    ('{{ messages[0].missing.deeper }}', None),
    ("{{ 1 + 'a' }}", None),
    ("{{ 'a' + 1 }}", None),
    ('{{ 1 / 0 }}', None),
    ("{{ 'x' < 1 }}", None),
    ('{% for x in 5 %}{% endfor %}', None),
    ('{{ foo() }}', None),
    ("{{ 'abc'.foo() }}", None),
    ('{% if %}{% endif %}', None),
    ('{% for x in y %}', None),
    ('{{ 1 + }}', None),
    ('{% endif %}', None),
    ('{% unknowntag %}', None),
    ('{{ undefined_var | tojson }}', None),
    ("{{ undefined_var | length }}{{ undefined_var | string }}{{ undefined_var | list }}{{ undefined_var | join(',') }}{{ undefined_var | trim }}{{ undefined_var | upper }}|{{ undefined_var | first }}|", None),
    ("{{ none | trim }} {{ 5 | string + 'x' }} {{ 3.0 | int }} {{ 'abc' | int }} {{ '0x1A' | int(base=16) }} {{ ' 12 ' | int }} {{ '1_000' | int }} {{ true | int }}", None),
    ("{{ 'aXbXc'.split('X', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ ' a  b '.split() }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '-'.join(['a', 'b']) }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'ab'.count('') }} {{ 'abc'.index('c') }}", None),
    ('{{ "it\'s" }} {{ ["it\'s", \'say "hi"\', \'both \\\' "\'] }} {{ \'\\n\\t\\x00\\x7f\\xa0é\' | pprint }}', None),
    ("{{ (1, 2) + (3,) }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 2 * 'ab' }} {{ [0] * 3 }} {{ -'a' }}", None),
    ('{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 1 == 1 == 1.0 }} {{ [1, 2] < [1, 3] }} {{ (1, 2) == [1, 2] }}', None),
    ("{{ messages[-1]['content'] }} {{ messages[-1].content[:3] }} {{ messages[1].content[-3:] }}", None),
    ("{% set x = 'outer' %}{% if true %}{% set x = 'inner' %}{% endif %}{{ x }}{% for i in [1] %}{% set x = 'loop' %}{{ x }}{% endfor %}{{ x }}", None),
    ('{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ dict(a=1, b=2) }} {{ namespace(a=1).a }}', None),
    ("{{ 'a' ~ 1 + 2 }} {{ 1 + 2 ~ 'a' }} {{ 'x' | upper ~ 'y' }} {{ not true == false }} {{ - 2 ** 2 }} {{ 2 ** -1 }}", None),
    ("{{ 'hello' is string and 'x' }} {{ x is not defined }} {{ none is not none }} {{ 'A' is upper }} {{ 'a' is lower }} {{ 2 is in [1, 2] }} {{ 1 is sameas 1 }} {{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 1 is callable }} {{ range is callable }}", None),
    ("{%- for message in messages -%}\n  {%- if loop.first and message.role == 'system' -%}\n    SYS:{{ message.content }}\n  {% endif -%}\n{%- endfor -%}", None),
    ('{{ "  a\\n" | trim }}|{{ \'xax\' | trim(\'x\') }}|{{ \'ab\' | replace(\'a\', \'c\') }}|{{ \'ab\' | replace(\'\', \'-\') }}', None),
    ('{{ \'a\' \'b\' }} {{ \'héllo\' | length }} {{ \'héllo\' | upper }} {{ \'straße\' | upper }} {{ \'ǅ\'.lower() }} {{ "o\'neil mc-donald" | title }} {{ "o\'neil mc-donald".title() }} {{ \'123abc\'.capitalize() }}', None),
    ("{{ '%s' % 'x' }} {{ '%r' % 'x' }} {{ '%(a)s-%(b)d' % {'a': 'A', 'b': 2} }} {{ '%5s|%-5s|' % ('a', 'b') }} {{ '%x %o %e %g %%' % (255, 8, 12345.678, 0.0001) }} {{ '%.2f' | format(1.234) }}", None),
    ("{{ '{0} {1} {0}'.format('a', 'b') }} {{ '{name}!'.format(name='x') }} {{ '{:>5}|{:<5}|{:^5}|'.format('a', 'b', 'c') }} {{ '{:.2f}'.format(3.14159) }} {{ '{{}}'.format() }} {{ '{!r}'.format('q') }}\n", None),
    ('{{ 1.5e300 * 1e10 }} {{ -0.0 }} {{ 1/3 }} {{ 2.0 ** 0.5 }} {{ 2 ** 62 }}', None),
    ("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}{% generation %}{% endgeneration %}", None),
    ('{% macro a(m) %}[{% generation %}{{ m.content }}{% endgeneration %}]{% endmacro %}xx{% for m in messages %}{{ a(m) }}{% endfor %}', None),
    ('{% for t in tools %}{{ t | tojson }}\n{{ t.function | tojson(indent=2) }}\n{% for k, v in t.function.parameters.properties.items() %}{{ k }}: {{ v.type }}{% endfor %}{% endfor %}', {'messages': [{'role': 'user', 'content': 'weather?'}], 'tools': [{'type': 'function', 'function': {'name': 'get_weather', 'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}}}]}),
    ("{%- if messages[0]['role'] == 'system' -%}\n    {%- set sys = messages[0]['content'] -%}\n    {%- set rest = messages[1:] -%}\n{%- else -%}\n    {%- set sys = '' -%}\n    {%- set rest = messages -%}\n{%- endif -%}\n<<{{ sys }}>>\n{% for m in rest %}\n  {{ m.role }}: {{ m.content }}\n{% endfor %}", None),
    ('{{ messages | length }} {{ messages | count }} {{ messages | last | tojson }} {{ (messages | first).role }}', None),
    ("{% if messages | selectattr('role', 'equalto', 'tool') %}gen-is-truthy{% endif %} {% set g = messages | map(attribute='role') %}{{ g | join(',') }}|{{ g | join(',') }}|", None),
    ("{{ '\r\n' | length }}\r\nline2\r\n", None),
    ("{% for m in messages %}{{ m.content if m.content is string else m.content | map(attribute='text') | join }}{% endfor %}", None),
    ("a\n{% if true %}\n  b\n{%- endif %}\n\n  {%- if true %} c {% endif %}\n  {{- 'd' }}\n", None),
    ("{{ strftime_now('%Y-%m-%d %H:%M:%S %a %b %I %p %j %U %w %%') }}", None),
]


def main():
    print("python %s, jinja2 %s" % (sys.version.split()[0], jinja2.__version__), file=sys.stderr)
    out = [render(t, v if v is not None else DEFAULT_VARS) for t, v in CASES]
    with open(OUT, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]\n")
    print("wrote %d cases to %s" % (len(out), OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
