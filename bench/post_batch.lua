-- wrk: POST a JSON array of BATCH events per request (default 100)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local batch = tonumber(os.getenv("BATCH") or "100")
local counter = 0
request = function()
	local parts = {}
	for i = 1, batch do
		counter = counter + 1
		parts[i] = '{"userId": "batch' .. (counter % 100000) ..
			'", "name": "add_revenue", "value": 1}'
	end
	return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
