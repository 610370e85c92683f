package wire

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zabkit/zabkit/tree"
)

// declaredCodes parses codes.go for every constant of type Code, so a code
// added there without a table entry fails TestCodeTable.
func declaredCodes(t *testing.T) map[string]Code {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "codes.go", nil, 0)
	require.NoError(t, err)
	codes := map[string]Code{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				expr, sign := vs.Values[i], int64(1)
				if u, ok := expr.(*ast.UnaryExpr); ok && u.Op == token.SUB {
					expr, sign = u.X, -1
				}
				lit, ok := expr.(*ast.BasicLit)
				require.True(t, ok, "%s: not a literal", name.Name)
				v, err := strconv.ParseInt(lit.Value, 0, 32)
				require.NoError(t, err)
				codes[name.Name] = Code(sign * v)
			}
		}
	}
	require.Greater(t, len(codes), 20)
	return codes
}

func TestCodeTable(t *testing.T) {
	declared := declaredCodes(t)
	seenCode := map[Code]bool{}
	seenErr := map[error]bool{}
	for _, ce := range codeErrs {
		assert.False(t, seenCode[ce.code], "code %d twice in the table", ce.code)
		assert.False(t, seenErr[ce.err], "%v twice in the table", ce.err)
		seenCode[ce.code], seenErr[ce.err] = true, true
	}
	for name, c := range declared {
		t.Run(name, func(t *testing.T) {
			if c == CodeOK {
				assert.NoError(t, c.Err("ignored"))
				assert.Equal(t, CodeOK, CodeOf(nil))
				return
			}
			require.True(t, seenCode[c], "%s has no sentinel in the table", name)
			bare := c.Err("")
			require.Error(t, bare)
			assert.Equal(t, c, CodeOf(bare))
			withMsg := c.Err("/some/path")
			assert.ErrorIs(t, withMsg, bare)
			assert.Contains(t, withMsg.Error(), "/some/path")
			assert.Equal(t, c, CodeOf(withMsg))
			// Wrapped again on the way through the client.
			assert.Equal(t, c, CodeOf(fmt.Errorf("client: get: %w", withMsg)))
			// A message equal to the sentinel's text is not repeated.
			assert.Equal(t, bare, c.Err(bare.Error()))
		})
	}
	assert.Len(t, codeErrs, len(declared)-1, "every declared code but CodeOK is in the table")
}

func TestTreeErrorsRoundTrip(t *testing.T) {
	assert.ErrorIs(t, CodeNoNode.Err("x"), tree.ErrNoNode)
	for _, err := range []error{tree.ErrNoNode, tree.ErrNodeExists, tree.ErrBadVersion, tree.ErrNotEmpty,
		tree.ErrNoChildrenForEphemerals, tree.ErrBadArguments, tree.ErrSequenceOverflow, tree.ErrRolledBack,
		tree.ErrRuntimeInconsistency, tree.ErrNoSession} {
		wrapped := fmt.Errorf("tree: create /a: %w", err)
		c := CodeOf(wrapped)
		assert.NotEqual(t, CodeSystemError, c, "%v", err)
		// Over the wire: a Response carrying the code and message.
		b := mustResponse(t, &Response{Xid: 1, Code: c, Message: wrapped.Error()})
		var resp Response
		require.NoError(t, DecodeResponse(b, &resp))
		got := resp.Code.Err(resp.Message)
		assert.ErrorIs(t, got, err)
		assert.Contains(t, got.Error(), "create /a")
	}
}

func TestUnknownCodes(t *testing.T) {
	assert.Equal(t, CodeSystemError, CodeOf(errors.New("something else")))
	err := Code(-9999).Err("detail")
	assert.ErrorIs(t, err, ErrSystemError)
	assert.Contains(t, err.Error(), "-9999")
	assert.Contains(t, err.Error(), "detail")
}
