-- wrk: GET the revenue of a random one of user0 .. user<USERS - 1>
math.randomseed(os.time())
local users = tonumber(os.getenv("USERS") or "100000")
request = function()
	return wrk.format("GET", "/userEvents/user" .. math.random(0, users - 1))
end
