package sandbox

import (
	"fmt"

	"crmsync/clients/omnichat"
)

// SystemUsers returns the shop's chat agents as the sandbox Omnichat lists
// them (GET /v1/system-users): their usernames are the senderUserId of
// their messages; all work in the Siam shop, the team lead in the online
// shop too.
func SystemUsers() []omnichat.SystemUser {
	yes, active, role := true, 1, 7
	out := make([]omnichat.SystemUser, 0, len(agents))
	for i, a := range agents {
		shops := []omnichat.Shop{{ID: "shop-siam", Code: "A01", Name: "สาขาสยาม"}}
		if i == len(agents)-1 {
			shops = append(shops, omnichat.Shop{ID: "shop-online", Code: "B02", Name: "Online"})
		}
		out = append(out, omnichat.SystemUser{
			Username: a.id, Team: "Pakpao", Email: fmt.Sprintf("%s@pakpao.example", a.id), Name: a.name,
			EmployeeCode: fmt.Sprintf("E%03d", i+1), Available: &yes, Status: &active, Role: &role, Shops: shops,
		})
	}
	return out
}
