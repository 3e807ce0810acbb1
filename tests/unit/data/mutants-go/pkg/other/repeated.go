// Package other repeats lines, so a search must take in neighbouring lines to be unique.
package other

func first(err error) error {
	if err != nil {
		return err
	}
	return nil
}

func second(err error) error {
	if err != nil {
		return err
	}
	return nil
}
