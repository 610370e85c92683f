// Package recipetest holds what the recipes' tests share: FaultConn, a
// recipes.Conn that loses chosen replies on purpose, and Ensemble, which
// starts the in-process 3-peer ensemble the tests run against. Only
// _test.go files import it.
package recipetest
