-- corpus.lua - {subject, pattern} pairs for diff.lua: the pattern features handlers use (captures,
-- position captures, back-references, %b, %f, anchors, classes, sets, every quantifier), the
-- shapes of typical handler code (trim, split, key=value, paths, e-mails, dates) and the errors
-- (malformed patterns, bad capture indices). Every pair is run through find, match, gmatch and
-- gsub with several replacements.
local long = string.rep("ab", 200) .. "c"
return {
  -- literals, empty pattern, empty subject, embedded zeros
  { "", "" }, { "alo", "" }, { "", "a" }, { "hello world", "world" }, { "a\0b\0c", "\0b" },
  { "a\0b\0c", "%z" }, { "a.b.c", "." }, { "a.b.c", "%." }, { "a+b", "a+b" }, { "a+b", "a%+b" },
  -- classes and their complements
  { "Hello, World 42!", "%a+" }, { "Hello, World 42!", "%A+" }, { "Hello, World 42!", "%d+" },
  { "Hello, World 42!", "%D+" }, { "Hello, World 42!", "%l+" }, { "Hello, World 42!", "%u+" },
  { "Hello, World 42!", "%p" }, { "Hello, World 42!", "%P+" }, { " \t\n x", "%s+" },
  { " \t\n x", "%S" }, { "0x1F g", "%x+" }, { "0x1F g", "%X" }, { "a\1b\127", "%c" },
  { "a\1b\127", "%C+" }, { "a_b-c", "%w+" }, { "a_b-c", "%W" }, { "ab \255\200", "%g+" },
  -- sets
  { "abc-123", "[a-c]+" }, { "abc-123", "[^a-c]+" }, { "abc-123", "[%d-]+" },
  { "a]b", "[]]" }, { "a]b", "[^]]+" }, { "a-b", "[a%-]+" }, { "a^b", "[%^b]+" },
  { "a^b", "[b^]+" }, { "x%y", "[%%]" }, { "AbC", "[%u]" }, { "\0\1\2", "[\0-\1]+" },
  -- quantifiers, greedy and lazy
  { "aaab", "a*" }, { "aaab", "a+" }, { "aaab", "a-" }, { "aaab", "a-b" }, { "aaab", "a?" },
  { "aaab", "a?a?a?b" }, { "<a><b>", "<.*>" }, { "<a><b>", "<.->" }, { "xyz", "b*" },
  { "aabaaabaaabaaaba", "b.*b" }, { "aabaaabaaabaaaba", "b.-b" }, { long, "(ab)*c" },
  { long, "^(.-)c$" }, { long, "a.-b.-c" },
  -- anchors
  { "aaa", "^a" }, { "baa", "^a" }, { "aaa", "a$" }, { "aab", "a$" }, { "a$a", "$" },
  { "a$a", "%$" }, { "a$a", ".$." }, { "abc", "^abc$" }, { "abc", "^$" }, { "", "^$" },
  { "^abc", "^^" }, { "abc", "b^" },
  -- captures, position captures, back-references
  { "key = value", "(%w+)%s*=%s*(%w+)" }, { "hello", "()ll()" }, { "hello", "(h)(e)(l)(l)(o)" },
  { "0123456789", "(.+(.?)())" }, { "abcabc", "(abc)%1" }, { "abcabd", "(abc)%1" },
  { "xuxx uu ppar r", "()(.)%2" }, { "aa", "(a)%1%1" }, { "=====", "^(=*)=%1$" },
  { "(a(b)c)", "%((.-)%)" }, { "one two  three", "(%S+)" }, { "a,b,,c", "([^,]*)" },
  { "abc", "((a)(b))" }, { "abc", "()" }, { "abc", "(()a())" },
  -- %b and %f
  { "f(a(b)c) g(d)", "%b()" }, { "f(a(b)c g(d)", "%b()" }, { "[[x]] [y]", "%b[]" },
  { "'quoted' text", "%b''" }, { "THE (quick) fox", "%f[%a]%a+" }, { "THE (quick) fox", "%f[%A]" },
  { "hello world", "%f[%w]%w+%f[%W]" }, { "01abc45de3", "%f[%d]" }, { "aaa", "%f[a]" },
  { "aba", "%f[%z]" }, { "x", "%f[^%z]" },
  -- typical handler code
  { "  padded text  ", "^%s*(.-)%s*$" }, { "user@example.com", "^([^@]+)@([^@]+)$" },
  { "/items/01HZX3K9Q2/tags", "^/items/([^/]+)/(%w+)$" }, { "a=1&b=2&c=", "([^&=]+)=([^&]*)" },
  { "2024-05-01T12:00:00Z", "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$" },
  { "Bearer abc.def.ghi", "^Bearer%s+(%S+)$" }, { "text/html; charset=utf-8", "charset=([%w%-]+)" },
  { "camelCaseName", "(%l)(%u)" }, { "a.b.c", "[^.]+" }, { "k1:v1;k2:v2", "(%w+):(%w+)" },
  -- errors: malformed patterns and bad captures (the messages must match too)
  { "a", "(." }, { "a", ".)" }, { "a", "[a" }, { "a", "[]" }, { "a", "[^]" }, { "a", "[a%]" },
  { "a", "[a%" }, { "a", "%b" }, { "a", "%ba" }, { "a", "%" }, { "a", "%f" }, { "a", "%fa" },
  { "a", "%1" }, { "a", "(a)%2" }, { "a", "(a%1)" }, { "a", "%0" },
  { "a", string.rep("()", 33) }, { "aaa", string.rep("(a", 3) },
}
