package main

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// maxCandidates bounds what one Tab press lists.
const maxCandidates = 200

// completionTimeout bounds the server round trips of one Tab press.
const completionTimeout = 2 * time.Second

// completer completes command names and znode paths for readline.
type completer struct {
	ctx      context.Context
	c        zk
	commands []string
}

// Do implements readline.AutoCompleter.
func (k *completer) Do(line []rune, pos int) ([][]rune, int) {
	ctx, cancel := context.WithTimeout(k.ctx, completionTimeout)
	defer cancel()
	cands, n := complete(ctx, k.c, k.commands, string(line[:pos]))
	out := make([][]rune, len(cands))
	for i, c := range cands {
		out[i] = []rune(c)
	}
	return out, n
}

// complete returns what may follow the text before the cursor: the rest of
// a command name for the first word, the rest of a child's name for a word
// starting with "/". The int is how many runes of the word are already typed.
func complete(ctx context.Context, c zk, commands []string, before string) ([]string, int) {
	i := strings.LastIndexAny(before, " \t")
	word := before[i+1:]
	if strings.TrimSpace(before[:i+1]) == "" {
		var out []string
		for _, name := range commands {
			if strings.HasPrefix(name, word) {
				out = append(out, name[len(word):]+" ")
			}
		}
		return out, utf8.RuneCountInString(word)
	}
	if !strings.HasPrefix(word, "/") {
		return nil, 0
	}
	return completePath(ctx, c, word)
}

// completePath lists the children of word's parent that start with word's
// last segment, a page at a time, stopping past the prefix (names are
// sorted) or at maxCandidates.
func completePath(ctx context.Context, c zk, word string) ([]string, int) {
	slash := strings.LastIndexByte(word, '/')
	dir, prefix := word[:slash], word[slash+1:]
	if dir == "" {
		dir = "/"
	}
	var out []string
	after := ""
	for len(out) < maxCandidates {
		names, more, err := c.ChildrenPage(ctx, dir, after, pageSize)
		if err != nil {
			break
		}
		for _, name := range names {
			if strings.HasPrefix(name, prefix) {
				out = append(out, name[len(prefix):])
			} else if name > prefix {
				more = false
				break
			}
		}
		if !more || len(names) == 0 {
			break
		}
		after = names[len(names)-1]
	}
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out, utf8.RuneCountInString(prefix)
}
