// Package demo holds one site of each mutation operator, and operators where none may be mutated.
package demo

import (
	"fmt"
	"time"
)

const backoff = 2 * time.Hour

type Queue interface {
	Add(key string)
	Forget(key string) error
}

type controller struct {
	queue   Queue
	retries int
}

/* A general comment: a == b, a < b, i++, return err, c.queue.Add(key), true && false */

func (c *controller) sync(key string, attempts int) error {
	message := "retry when a == b || a < b" // not a site: x != y, i--
	pattern := `raw: a >= b
	c.queue.Add(key) return err`
	quote := '+'
	fmt.Println(message, pattern, quote)
	if attempts >= c.retries {
		return fmt.Errorf("gave up after %d attempts", attempts)
	}
	delay := backoff * time.Duration(attempts-1)
	c.queue.Add(key)
	c.retries++
	err := c.queue.Forget(key)
	if err != nil {
		return err
	}
	return nil
}

func (c *controller) ready(deadline time.Duration) (bool, error) {
	var owners []*controller
	byName := map[string]*controller{}
	label := "key-" + fmt.Sprint(len(owners)) + "-" + fmt.Sprint(len(byName))
	defer c.queue.Add(label)
	go c.queue.Add(label)
	if deadline == 0 || c.retries == 0 {
		return false, nil
	}
	return true, nil
}
