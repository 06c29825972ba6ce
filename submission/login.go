package submission

import "github.com/emersion/go-sasl"

// loginServer is the server side of the obsolete but ubiquitous LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl implements only as a client.
type loginServer struct {
	step     int
	username string
	check    func(user, pass string) error
}

// newLoginServer returns a LOGIN mechanism that calls check with the credentials.
func newLoginServer(check func(user, pass string) error) sasl.Server {
	return &loginServer{check: check}
}

// Next implements sasl.Server: "Username:", then "Password:", then check. An initial response
// (AUTH LOGIN <base64 user>) is the username.
func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.username, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
