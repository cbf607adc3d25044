// Dump reading (plain/bz2/multistream/gzip/zstd, truncation and corruption errors) and wikitext cleaning
// (hand-made constructs and the two shared Wikipedia excerpts).
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "data/test_util.h"
#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/data/compressed_reader.h"
#include "lm/data/wiki_dump.h"
#include "lm/data/wikitext.h"

namespace lm {
namespace {

std::string read_all(CompressedReader& r, size_t chunk = 4096) {
  std::string out;
  std::string buf(chunk, '\0');
  size_t n;
  while ((n = r.read(buf.data(), buf.size())) > 0) out.append(buf.data(), n);
  return out;
}

std::string sample_text() {
  std::string s;
  for (int i = 0; i < 20000; ++i) s += "line " + std::to_string(i * 7919 % 10007) + " of the sample\n";
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST(CompressedReader, RoundTripsEveryFormat) {
  std::string s = sample_text();
  struct Case {
    std::string data;
    Compression c;
  } cases[] = {{s, Compression::None},
               {test::bz2_compress(s), Compression::Bzip2},
               {test::gzip_compress(s), Compression::Gzip},
               {test::zstd_compress(s), Compression::Zstd}};
  for (auto& c : cases) {
    CompressedReader r(c.data, "mem");
    EXPECT_EQ(r.compression(), c.c);
    EXPECT_EQ(read_all(r, 1000), s) << compression_name(c.c);
    EXPECT_EQ(r.uncompressed_offset(), s.size());
    EXPECT_EQ(r.compressed_offset(), c.data.size());
  }
}

TEST(CompressedReader, MultistreamAndMultiMember) {
  std::string a = sample_text(), b = "second part\n", c = std::string(100000, 'x');
  std::string bz = test::bz2_compress(a) + test::bz2_compress(b) + test::bz2_compress(c);
  CompressedReader r(bz, "multi.bz2");
  EXPECT_EQ(read_all(r), a + b + c);
  std::string gz = test::gzip_compress(a) + test::gzip_compress(b);
  CompressedReader g(gz, "multi.gz");
  EXPECT_EQ(read_all(g), a + b);
  std::string zs = test::zstd_compress(a) + test::zstd_compress(b);
  CompressedReader z(zs, "multi.zst");
  EXPECT_EQ(read_all(z), a + b);
}

TEST(CompressedReader, TruncatedAndCorruptInputIsBadFormat) {
  std::string s = sample_text();
  for (auto compress : {test::bz2_compress, test::gzip_compress, test::zstd_compress}) {
    std::string data = compress(s);
    std::string cut = data.substr(0, data.size() * 2 / 3);
    std::string msg = error_of([&] {
      CompressedReader r(cut, "cut.file");
      read_all(r);
    });
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cut.file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("compressed byte"), std::string::npos) << msg;
    std::string bad = data;
    for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    error_of([&] {
      CompressedReader r(bad, "bad.file");
      read_all(r);
    });
  }
  // Garbage after a complete bzip2 stream.
  std::string junk = test::bz2_compress(s) + "garbage!";
  error_of([&] {
    CompressedReader r(junk, "junk.bz2");
    read_all(r);
  });
}

TEST(CompressedReader, MissingFileIsNotFound) {
  try {
    CompressedReader r("/nonexistent/dump.xml.bz2");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
  }
}

const char* kDump = R"(<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>Test</sitename><namespaces><namespace key="0" /></namespaces></siteinfo>
  <page><title>Alpha</title><ns>0</ns><id>1</id>
    <revision><id>100</id><text xml:space="preserve">'''Alpha''' is the first &amp; best [[letter]].</text></revision></page>
  <page><title>Talk:Alpha</title><ns>1</ns><id>2</id>
    <revision><id>101</id><text xml:space="preserve">talk</text></revision></page>
  <page><title>Alfa</title><ns>0</ns><id>3</id><redirect title="Alpha" />
    <revision><id>102</id><text xml:space="preserve">#REDIRECT [[Alpha]]</text></revision></page>
  <page><title>Beta (disambiguation)</title><ns>0</ns><id>4</id>
    <revision><id>103</id><text xml:space="preserve">'''Beta''' may refer to: {{disambiguation}}</text></revision></page>
  <page><title>Gamma</title><ns>0</ns><id>5</id>
    <revision><id>104</id><text xml:space="preserve">Gamma &lt;ref&gt;x&lt;/ref&gt; text.
Second line.</text></revision></page>
</mediawiki>
)";

std::vector<WikiPage> read_pages(std::string_view data, const WikiDumpOptions& opt = {}) {
  std::vector<WikiPage> pages;
  read_wiki_dump_memory(
      data, "test.xml",
      [&](const WikiPage& p, const WikiDumpStats&) {
        pages.push_back(p);
        return true;
      },
      opt);
  return pages;
}

TEST(WikiDump, FiltersNamespacesRedirectsAndDisambiguation) {
  auto pages = read_pages(kDump);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].title, "Alpha");
  EXPECT_EQ(pages[0].id, 1);  // the page id, not the revision id
  EXPECT_EQ(pages[0].text, "'''Alpha''' is the first & best [[letter]].");
  EXPECT_EQ(pages[1].title, "Beta (disambiguation)");
  EXPECT_EQ(pages[2].text, "Gamma <ref>x</ref> text.\nSecond line.");
  WikiDumpOptions o;
  o.skip_disambiguation = true;
  pages = read_pages(kDump, o);
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[1].title, "Gamma");
  o.main_namespace_only = false;
  o.skip_redirects = false;
  EXPECT_EQ(read_pages(kDump, o).size(), 4u);
  // Every compression gives the same pages.
  for (auto compress : {test::bz2_compress, test::gzip_compress, test::zstd_compress})
    EXPECT_EQ(read_pages(compress(kDump)).size(), 3u);
}

TEST(WikiDump, StopsEarly) {
  int n = 0;
  auto st = read_wiki_dump_memory(kDump, "t", [&](const WikiPage&, const WikiDumpStats&) { return ++n < 1; });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(st.pages_emitted, 1);
}

TEST(WikiDump, CallbackExceptionPropagates) {
  EXPECT_THROW(read_wiki_dump_memory(
                   kDump, "t",
                   [&](const WikiPage&, const WikiDumpStats&) -> bool { throw std::runtime_error("boom"); }),
               std::runtime_error);
}

TEST(WikiDump, MalformedAndTruncatedXmlIsBadFormat) {
  std::string bad = kDump;
  bad.replace(bad.find("</title>"), 8, "</titel>");
  std::string msg = error_of([&] { read_pages(bad); });
  EXPECT_NE(msg.find("malformed XML in test.xml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("uncompressed byte"), std::string::npos) << msg;
  std::string cut = std::string(kDump).substr(0, 700);
  msg = error_of([&] { read_pages(cut); });
  EXPECT_NE(msg.find("truncated XML"), std::string::npos) << msg;
  msg = error_of([&] { read_pages(test::bz2_compress(kDump).substr(0, 300)); });
  EXPECT_NE(msg.find("bzip2"), std::string::npos) << msg;
  error_of([&] { read_pages(""); });
  error_of([&] { read_pages("not xml at all"); });
}

TEST(WikiDump, SharedExcerpt) {
  LM_REQUIRE_SHARED_DATA();
  std::string path = test::shared_data_dir() +
                     "/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";
  std::vector<std::string> titles;
  auto st = read_wiki_dump(path, [&](const WikiPage& p, const WikiDumpStats&) {
    EXPECT_EQ(p.ns, 0);
    EXPECT_FALSE(p.redirect);
    titles.push_back(p.title);
    return true;
  });
  EXPECT_EQ(st.pages_seen, 206);
  EXPECT_EQ(st.pages_emitted, 106);
  EXPECT_EQ(st.uncompressed_bytes, 6089746u);
  EXPECT_EQ(titles.front(), "Anarchism");
  EXPECT_EQ(titles.back(), "Algorithm");
}

TEST(WikiDump, CutSharedExcerptNamesFileAndOffset) {
  LM_REQUIRE_SHARED_DATA();
  std::string data =
      read_file(test::shared_data_dir() +
                "/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
  std::string dir = test::temp_dir("wiki_cut");
  std::string path = dir + "/cut.xml.bz2";
  write_file_atomic(path, std::string_view(data).substr(0, data.size() / 2));
  int pages = 0;
  std::string msg = error_of(
      [&] { read_wiki_dump(path, [&](const WikiPage&, const WikiDumpStats&) { return ++pages > 0; }); });
  EXPECT_GT(pages, 10);
  EXPECT_NE(msg.find("truncated bzip2 data in " + path), std::string::npos) << msg;
  EXPECT_NE(msg.find("compressed byte " + std::to_string(data.size() / 2)), std::string::npos) << msg;
}

// A dump of `pages` pages written as a multistream bzip2 file (one stream per 40 pages, like the
// pages-articles-multistream dumps) next to its plain XML.
std::string make_multistream(const std::string& path, int pages, std::string* xml_out) {
  Rng rng(5, 1);
  std::string head = "<mediawiki>\n  <siteinfo><sitename>T</sitename></siteinfo>\n";
  std::string xml = head, bz = test::bz2_compress(head), chunk;
  for (int p = 0; p < pages; ++p) {
    std::string text;
    for (int w = 0; w < 300; ++w) {
      text += 'w';
      text += std::to_string(rng.next_below(100000));
      text += w % 17 == 16 ? ".\n" : " ";
    }
    chunk += "  <page><title>P" + std::to_string(p) + "</title><ns>0</ns><id>" + std::to_string(p + 1) +
             "</id><revision><id>9</id><text xml:space=\"preserve\">" + text + "</text></revision></page>\n";
    if (p % 40 == 39 || p == pages - 1) {
      xml += chunk;
      bz += test::bz2_compress(chunk);
      chunk.clear();
    }
  }
  xml += "</mediawiki>\n";
  bz += test::bz2_compress("</mediawiki>\n");
  write_file_atomic(path, bz);
  if (xml_out) *xml_out = xml;
  return bz;
}

TEST(WikiDump, MultistreamParallelDecodeMatchesPlain) {
  std::string dir = test::temp_dir("wiki_multistream");
  std::string xml;
  std::string bz = make_multistream(dir + "/m.xml.bz2", 4000, &xml);
  ASSERT_GT(bz.size(), 2u << 20);  // several 1 MiB units
  {
    CompressedReader r(dir + "/m.xml.bz2");
    EXPECT_EQ(read_all(r, 1 << 16), xml);
    EXPECT_EQ(r.compressed_offset(), bz.size());
  }
  std::vector<std::string> titles;
  auto st = read_wiki_dump(dir + "/m.xml.bz2", [&](const WikiPage& p, const WikiDumpStats&) {
    titles.push_back(p.title);
    return true;
  });
  ASSERT_EQ(titles.size(), 4000u);
  EXPECT_EQ(titles[3999], "P3999");
  EXPECT_EQ(st.uncompressed_bytes, xml.size());
  // Cut in the middle of a stream, and corrupted: BadFormat naming the file.
  write_file_atomic(dir + "/cut.xml.bz2", std::string_view(bz).substr(0, bz.size() - 5000));
  std::string msg = error_of([&] {
    CompressedReader r(dir + "/cut.xml.bz2");
    read_all(r);
  });
  EXPECT_NE(msg.find("truncated bzip2 data in " + dir + "/cut.xml.bz2 at compressed byte"), std::string::npos)
      << msg;
  std::string bad = bz;
  for (size_t i = bad.size() / 2; i < bad.size() / 2 + 16; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x33);
  write_file_atomic(dir + "/bad.xml.bz2", bad);
  msg = error_of([&] {
    CompressedReader r(dir + "/bad.xml.bz2");
    read_all(r);
  });
  EXPECT_NE(msg.find(dir + "/bad.xml.bz2"), std::string::npos) << msg;
}

// ---- wikitext ----

TEST(Wikitext, LinksAndFormatting) {
  EXPECT_EQ(clean_wikitext("'''Bold''' and ''italic'' and '''''both'''''."), "Bold and italic and both.");
  EXPECT_EQ(clean_wikitext("Rock 'n' roll, ''{{flag|GB}}'' team\n* ''{{GGY}}'' (UK)\n* ''[[Jersey]]'' (UK)"),
            "Rock 'n' roll, team\nJersey (UK)");
  EXPECT_EQ(clean_wikitext("A [[link]], a [[target|label]], [[bus]]es, [[Paris, Texas|]]."),
            "A link, a label, buses, Paris.");
  EXPECT_EQ(clean_wikitext("See [[:Category:Foo|the category]] and [[wikt:word|word]]."),
            "See the category and word.");
  EXPECT_EQ(clean_wikitext("X [[File:A.jpg|thumb|A [[nested]] caption with [[b|link]].]] Y"), "X Y");
  EXPECT_EQ(clean_wikitext("X [[Image:A.png|left|200px]] Y [[Category:Things|sort]] Z"), "X Y Z");
  EXPECT_EQ(clean_wikitext("Text.\n[[de:Text]]\n[[zh-min-nan:Text]]\n[[simple:Text]]"), "Text.");
  EXPECT_EQ(clean_wikitext("Visit [http://example.org the site] or [https://x.org]."), "Visit the site or.");
  EXPECT_EQ(clean_wikitext("It's a [sic] case."), "It's a [sic] case.");
}

TEST(Wikitext, TemplatesRefsCommentsAndTags) {
  EXPECT_EQ(clean_wikitext("{{Infobox person\n| name = {{nowrap|X {{small|Y}}}}\n| born = {{{1|}}}\n}}"
                           "'''X''' was born.{{citation needed|date=May 2020}}"),
            "X was born.");
  EXPECT_EQ(clean_wikitext(
                "A<ref name=\"a\">{{cite web|url=http://x}} [[y]]</ref> B<ref name=\"a\" /> C<REF>z</REF>."),
            "A B C.");
  EXPECT_EQ(clean_wikitext("A <!-- hidden [[x]] --> B"), "A B");
  EXPECT_EQ(clean_wikitext("E = <math>mc^2</math>, see <gallery>\nA.jpg|x\n</gallery> ok"), "E =, see ok");
  EXPECT_EQ(clean_wikitext("<timeline>x</timeline><syntaxhighlight lang=\"c\">int x;</syntaxhighlight>Done"),
            "Done");
  EXPECT_EQ(clean_wikitext("H<sub>2</sub>O is <span style=\"x\">water</span>.<br/>Yes <small>small</small>"),
            "H2O is water. Yes small");
  EXPECT_EQ(clean_wikitext("a < b and c > d"), "a < b and c > d");
  EXPECT_EQ(clean_wikitext("__NOTOC__\nText __TOC__ here."), "Text here.");
  EXPECT_EQ(clean_wikitext("Unbalanced {{ template and ]] and [[ end"), "Unbalanced template and and end");
}

TEST(Wikitext, InlineTemplatesKeepTheirText) {
  EXPECT_EQ(clean_wikitext("At {{convert|1500|mi|km}}, it is long; {{cvt|5|-|10|kg}} heavy."),
            "At 1500 mi, it is long; 5–10 kg heavy.");
  EXPECT_EQ(clean_wikitext("He said {{lang|fr|oui {{nowrap|merci}}}}{{snd}}twice{{cite|x=1}}."),
            "He said oui merci – twice.");
  EXPECT_EQ(clean_wikitext("{{{param|default}}} gone {{convert|{{{1}}}|m}}"), "gone m");
  EXPECT_EQ(clean_wikitext(
                "{{quote|text=To be or not.|author=W}} {{cquote|Plain quote.}} {{abbr|UN|United Nations}} "
                "{{math|''x'' + 1}} {{frac|1|2}} and {{frac|3|1|4}} {{val|1.5|u=km}} {{circa|1500}}, "
                "{{as of|2010}}, {{As of|2014|lc=y}}."),
            "To be or not. Plain quote. UN x + 1 1/2 and 3 1/4 1.5 km c. 1500, As of 2010, as of 2014.");
}

TEST(Wikitext, Entities) {
  EXPECT_EQ(
      decode_html_entities("&amp; &lt;b&gt; &eacute;t&eacute; &#8212; &#x2014; &nbsp;x &bogus; &#xZZ; &"),
      "& <b> été — —  x &bogus; &#xZZ; &");
  EXPECT_EQ(clean_wikitext("10&nbsp;km &ndash; caf&eacute;"), "10 km – café");
}

TEST(Wikitext, TablesNested) {
  std::string t =
      "Before.\n{| class=\"wikitable\"\n|-\n! H1 !! H2\n|-\n| a || b\n|-\n|\n{|\n| inner\n|}\n|}\nAfter.";
  EXPECT_EQ(clean_wikitext(t), "Before.\nAfter.");
  EXPECT_EQ(clean_wikitext("Text.\n{|\n| unclosed\n|-\n| cell\nTail."), "Text.\nTail.");
}

TEST(Wikitext, HeadingsListsAndEmptySections) {
  std::string t =
      "Intro line one\ncontinues here.\n\nSecond paragraph.\n"
      "== History ==\nOld times.\n=== Empty sub ===\n{{main|X}}\n=== Full sub ===\n* item one\n# item two\n"
      ": indented\n; term\n== Empty ==\n<!-- nothing -->\n== See also ==\n* [[Other]]\n"
      "== References ==\n{{reflist}}\n=== More refs ===\nx\n";
  EXPECT_EQ(clean_wikitext(t),
            "Intro line one continues here.\nSecond paragraph.\nHistory\nOld times.\nFull sub\nitem one\n"
            "item two\nindented\nterm");
  WikitextOptions o;
  o.keep_headings = false;
  o.keep_lists = false;
  o.drop_reference_sections = false;
  EXPECT_EQ(clean_wikitext(t, o), "Intro line one continues here.\nSecond paragraph.\nOld times.\nx");
}

struct CleanedDump {
  std::vector<std::pair<std::string, std::string>> pages;  // title, text
};

CleanedDump clean_file(const std::string& name) {
  CleanedDump d;
  read_wiki_dump(test::shared_data_dir() + "/wikipedia/" + name,
                 [&](const WikiPage& p, const WikiDumpStats&) {
                   d.pages.emplace_back(p.title, clean_wikitext(p.text));
                   return true;
                 });
  return d;
}

void expect_no_residue(const CleanedDump& d) {
  for (auto& [title, text] : d.pages) {
    for (const char* r : {"{{", "}}", "[[", "]]", "<ref", "{|", "|-", "'''", "<!--", "&amp;", "&nbsp;"})
      EXPECT_EQ(text.find(r), std::string::npos)
          << title << " has residue " << r
          << " near: " << text.substr(text.find(r) > 80 ? text.find(r) - 80 : 0, 200);
  }
}

const std::string& text_of(const CleanedDump& d, const std::string& title) {
  for (auto& p : d.pages)
    if (p.first == title) return p.second;
  static std::string none;
  ADD_FAILURE() << "no page " << title;
  return none;
}

TEST(Wikitext, SharedArticlesExcerpt) {
  LM_REQUIRE_SHARED_DATA();
  auto d = clean_file("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
  ASSERT_EQ(d.pages.size(), 106u);
  expect_no_residue(d);
  for (auto& p : d.pages) EXPECT_GT(p.second.size(), 100u) << p.first;
  auto has = [&](const std::string& title, const std::string& sentence) {
    EXPECT_NE(text_of(d, title).find(sentence), std::string::npos) << title << ": " << sentence;
  };
  has("Anarchism",
      "Anarchism is a political philosophy that advocates self-governed societies based on voluntary "
      "institutions.");
  has("Anarchism",
      "The first political philosopher to call himself an anarchist was Pierre-Joseph Proudhon, marking "
      "the formal birth of anarchism in the mid-nineteenth century.");
  has("Algorithm",
      "In mathematics and computer science, an algorithm is a self-contained step-by-step set of "
      "operations to be performed.");
  // A "Literature" section is article text, not a bibliography.
  has("Azerbaijan",
      "Among the medieval authors born within the territorial limits of modern Azerbaijani Republic "
      "was Persian poet and philosopher Nizami, called Ganjavi after his place of birth, Ganja,");
  has("Algorithms (journal)", "The journal is published by MDPI and was established in 2008.");
  EXPECT_EQ(text_of(d, "Anarchism").rfind("Anarchism is", 0), 0u);
}

TEST(Wikitext, SharedTableMarkupExcerpt) {
  LM_REQUIRE_SHARED_DATA();
  auto d = clean_file("enwiki-table-markup.xml.bz2");
  ASSERT_EQ(d.pages.size(), 5u);
  expect_no_residue(d);
  EXPECT_NE(
      text_of(d, "Economy of Estonia")
          .find("The economy of Estonia is strongly influenced by developments in the Finnish and Swedish "
                "economies."),
      std::string::npos);
  EXPECT_NE(text_of(d, "Brahui language")
                .find("Brahui is a Dravidian language spoken primarily by the Brahui people"),
            std::string::npos);
}

}  // namespace
}  // namespace lm
