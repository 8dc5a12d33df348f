-- driver.lua - runs one plan against route-milter with miltertest(8), no MTA.
--
--   miltertest -D socket=unix:/path -D plan=/path/plan.txt -s driver.lua
--
-- The plan (written by test_milter.py) has one step a line, fields separated by a TAB:
--   negotiate                      option negotiation with libmilter's defaults
--   options                        print "OPTION name 0|1" for each SMFIP_* flag asked for
--   connect HOST IP                xxfi_connect (IP "unspec" for an unknown family)
--   macro_mail NAME VALUE ...      the macros sent with the next MAIL FROM (one step: each
--   macro_rcpt NAME VALUE ...      macro packet replaces the stage's earlier one)
--   mail ADDRESS                   MAIL FROM; prints "REPLY mail X" (X the reply character)
--   rcpt ADDRESS                   RCPT TO; prints "REPLY rcpt X"
--   wait_for FILE                  sleep until FILE exists (the test reloads the milter meanwhile)
--   touch FILE                     create FILE (tells the test this point is reached)
--   close                          disconnect
-- Every step prints "STEP n name" first, so the test can match replies to its plan.

local conn = mt.connect(socket, 100, 0.05)
if conn == nil then error("cannot connect to " .. socket) end

local function split(line)
    local fields = {}
    for f in string.gmatch(line, "[^\t]+") do fields[#fields + 1] = f end
    return fields
end

local function reply_char()
    local r = mt.getreply(conn)
    if r == nil then return "?" end
    return string.char(r)
end

local option_names = { "SMFIP_NOCONNECT", "SMFIP_NOHELO", "SMFIP_NOMAIL", "SMFIP_NORCPT", "SMFIP_NOBODY",
                       "SMFIP_NOHDRS", "SMFIP_NOEOH", "SMFIP_NOUNKNOWN", "SMFIP_NODATA", "SMFIP_NR_CONN",
                       "SMFIP_NR_HELO", "SMFIP_NR_MAIL", "SMFIP_NR_RCPT", "SMFIP_NR_DATA", "SMFIP_NR_UNKN",
                       "SMFIP_NR_EOH", "SMFIP_NR_BODY", "SMFIP_NR_HDR" }

local unpack = table.unpack or unpack
local n = 0
for line in io.lines(plan) do
    local f = split(line)
    local step = f[1]
    n = n + 1
    print("STEP " .. n .. " " .. step)
    if step == "negotiate" then
        local err = mt.negotiate(conn, nil, nil, nil)
        if err ~= nil then error("negotiate: " .. err) end
    elseif step == "options" then
        for _, name in ipairs(option_names) do
            local flag = _G[name]
            if flag ~= nil then print("OPTION " .. name .. " " .. (mt.test_option(conn, flag) and "1" or "0")) end
        end
    elseif step == "connect" then
        local err = mt.conninfo(conn, f[2], f[3])
        if err ~= nil then error("conninfo: " .. err) end
    elseif step == "macro_mail" then
        mt.macro(conn, SMFIC_MAIL, unpack(f, 2))
    elseif step == "macro_rcpt" then
        mt.macro(conn, SMFIC_RCPT, unpack(f, 2))
    elseif step == "mail" then
        local err = mt.mailfrom(conn, f[2])
        if err ~= nil then error("mailfrom: " .. err) end
        print("REPLY mail " .. reply_char())
    elseif step == "rcpt" then
        local err = mt.rcptto(conn, f[2])
        if err ~= nil then error("rcptto: " .. err) end
        print("REPLY rcpt " .. reply_char())
    elseif step == "wait_for" then
        local waited = 0
        while io.open(f[2]) == nil do
            mt.sleep(0.05)
            waited = waited + 0.05
            if waited > 20 then error("timed out waiting for " .. f[2]) end
        end
    elseif step == "touch" then
        local fh = io.open(f[2], "w")
        fh:close()
    elseif step == "close" then
        mt.disconnect(conn)
    else
        error("unknown plan step: " .. step)
    end
    io.stdout:flush()
end
