-- wrk: POST one event per request, a different user each time
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
	counter = counter + 1
	return wrk.format(nil, nil, nil,
		'{"userId": "bench' .. (counter % 100000) .. '", "name": "add_revenue", "value": 1}')
end
