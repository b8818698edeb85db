package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// Ensure that a secret is compared with every configured token whichever
// matches, first, last or none, so that timing tells nothing about which
// tokens exist.
func TestAuth_LookupComparesEveryToken(t *testing.T) {
	var tokens []Token
	for i := range 5 {
		tokens = append(tokens, Token{Name: fmt.Sprintf("t%d", i), Role: RoleWork, Secret: fmt.Sprintf("secret-%d-0123456789abcdef", i)})
	}
	a := newAuthenticator(Options{Tokens: tokens})
	for _, c := range []struct {
		secret string
		want   string // token name, "" for none
	}{
		{tokens[0].Secret, "t0"},
		{tokens[4].Secret, "t4"},
		{"secret-9-0123456789abcdef", ""},
		{"", ""},
		{strings.Repeat("x", 4096), ""},
		{tokens[2].Secret + "x", ""},
		{tokens[2].Secret[:len(tokens[2].Secret)-1], ""},
	} {
		got, compared := a.lookup(c.secret)
		if compared != len(tokens) {
			t.Errorf("lookup compared %d tokens, want all %d", compared, len(tokens))
		}
		switch {
		case c.want == "" && got != nil:
			t.Errorf("lookup of an unknown secret found %q", got.name)
		case c.want != "" && (got == nil || got.name != c.want):
			t.Errorf("lookup of %s's secret found %v", c.want, got)
		}
	}
}

// Ensure that invalid tokens are refused with a message that names the
// token but never quotes its secret.
func TestValidateTokens(t *testing.T) {
	const good = "0123456789abcdef0123"
	cases := []struct {
		name   string
		tokens []Token
		want   string
	}{
		{"EmptyName", []Token{{"", RoleAdmin, good}}, "token name"},
		{"NameWithSpace", []Token{{"a b", RoleAdmin, good}}, "token name"},
		{"UnknownRole", []Token{{"a", "root", good}}, `role "root"`},
		{"SecretAsRole", []Token{{"a", good, good}}, "the role is not"},
		{"ShortSecret", []Token{{"a", RoleAdmin, "short"}}, "at least 16"},
		{"SecretWithSpace", []Token{{"a", RoleAdmin, "0123456789 abcdef"}}, "may hold only"},
		{"SecretWithComma", []Token{{"a", RoleAdmin, "0123456789,abcdef"}}, "may hold only"},
		{"PaddingOnly", []Token{{"a", RoleAdmin, "================"}}, "may hold only"},
		{"DuplicateName", []Token{{"a", RoleAdmin, good}, {"a", RoleWork, good + "x"}}, "used twice"},
		{"DuplicateSecret", []Token{{"a", RoleAdmin, good}, {"b", RoleWork, good}}, "same secret"},
	}
	for _, c := range cases {
		// Ensure that this configuration is refused.
		t.Run(c.name, func(t *testing.T) {
			err := ValidateTokens(c.tokens)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one containing %q", err, c.want)
			}
			for _, tok := range c.tokens {
				if len(tok.Secret) >= MinSecretLen && strings.Contains(err.Error(), tok.Secret) {
					t.Fatalf("error %q quotes a secret", err)
				}
			}
		})
	}
	ok := []Token{{"ci", RoleSubmit, "AbC+/-._~0123456789=="}, {"w.1", RoleWork, good}}
	if err := ValidateTokens(ok); err != nil {
		t.Fatalf("valid tokens refused: %v", err)
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "Options.Tokens") {
			t.Fatalf("New with an invalid token: panic %v", v)
		}
	}()
	New(nil, Options{Tokens: []Token{{"a", RoleAdmin, "short"}}})
	t.Fatal("New accepted an invalid token")
}

// Ensure that the 403 message names the roles that a route needs.
func TestAuth_Describe(t *testing.T) {
	if got := describe(administrator); got != "the admin role" {
		t.Fatalf("describe(admin) = %q", got)
	}
	if got := describe(submitter | worker | administrator); got != "one of the roles submit, work, admin" {
		t.Fatalf("describe(all) = %q", got)
	}
}
