-- Wireshark dissector for Trickles (docs/PROTOCOL.md) and the encapsulation header the
-- balancer and the packet mirror put in front of it (docs/NETWORK-FUNCTIONS.md §2, §4.2).
--
-- Use:  wireshark -X lua_script:tools/wireshark/trickles.lua capture.pcap
--       tshark -X lua_script:tools/wireshark/trickles.lua -r capture.pcap -Y trickles
-- or copy it into ~/.local/lib/wireshark/plugins/. It claims UDP port 4433 (change it in
-- Preferences > Protocols > Trickles) and finds Trickles on any other port heuristically:
-- a datagram starting with the encapsulation magic 0xEC 0x54, or with version 1 and a type
-- 1..4 and a length that type allows.
--
-- Every field of every packet type is a filterable field (trickles.*, tricklesencap.*); a
-- length that disagrees with the spec is flagged with an expert "malformed" note.

local trickles = Proto("trickles", "Trickles")
local encap = Proto("tricklesencap", "Trickles encapsulation")

local TYPES = { [1] = "HELLO", [2] = "REQUEST", [3] = "RESPONSE", [4] = "REFUSE" }
local STATES = { [0] = "normal", [1] = "recovery", [2] = "bootstrap" }
local KINDS = { [0] = "normal", [1] = "slow-start restart" }
local REFUSE_CODES = {
    [1] = "not found", [2] = "bad request", [3] = "content changed",
    [4] = "internal error", [5] = "HELLO too small", [6] = "server unreachable (from a balancer: resume)",
}
local FAMILIES = { [4] = "IPv4", [6] = "IPv6" }
local OPTIONS = { [0x56] = "VIA", [0x4D] = "mirror auth", [0x4E] = "padding" }

local f = trickles.fields
f.version = ProtoField.uint8("trickles.version", "Version")
f.type = ProtoField.uint8("trickles.type", "Type", base.DEC, TYPES)
f.conn_id = ProtoField.uint64("trickles.conn_id", "Connection id", base.HEX)
-- HELLO
f.resume_offset = ProtoField.uint64("trickles.resume_offset", "Resume offset")
f.receive_window = ProtoField.uint32("trickles.receive_window", "Receive window")
f.request_len = ProtoField.uint16("trickles.request_len", "Request length")
f.request = ProtoField.string("trickles.request", "Request")
f.padding = ProtoField.uint32("trickles.padding", "Padding bytes")
-- RESPONSE
f.nonce = ProtoField.uint32("trickles.nonce", "Nonce", base.HEX)
f.echo = ProtoField.uint32("trickles.echo", "Echo")
f.flags = ProtoField.uint8("trickles.flags", "Flags", base.HEX)
f.flag_fin = ProtoField.bool("trickles.flags.fin", "FIN", 8, nil, 0x01)
f.flag_retransmission = ProtoField.bool("trickles.flags.retransmission", "RETRANSMISSION", 8, nil, 0x02)
f.cont_len = ProtoField.uint16("trickles.cont_len", "Continuation length")
f.data = ProtoField.bytes("trickles.data", "Data")
f.data_len = ProtoField.uint32("trickles.data_len", "Data length")
-- REQUEST
f.kind = ProtoField.uint8("trickles.kind", "Kind", base.DEC, KINDS)
f.attempt = ProtoField.uint8("trickles.attempt", "Attempt")
f.sack_count = ProtoField.uint8("trickles.sack_count", "SACK blocks")
f.sack = ProtoField.none("trickles.sack", "SACK block")
f.sack_left = ProtoField.uint64("trickles.sack.left", "Left")
f.sack_right = ProtoField.uint64("trickles.sack.right", "Right")
f.sack_summary = ProtoField.uint32("trickles.sack.summary", "Summary", base.HEX)
-- REFUSE
f.code = ProtoField.uint8("trickles.code", "Code", base.DEC, REFUSE_CODES)
f.msg_len = ProtoField.uint16("trickles.msg_len", "Message length")
f.message = ProtoField.string("trickles.message", "Message")
-- The continuation (§3.3)
f.cont = ProtoField.none("trickles.cont", "Continuation")
f.epoch = ProtoField.uint8("trickles.cont.epoch", "Key epoch")
f.state = ProtoField.uint8("trickles.cont.state", "State", base.DEC, STATES)
f.seq = ProtoField.uint64("trickles.cont.seq", "Seq")
f.timestamp = ProtoField.uint64("trickles.cont.timestamp", "Timestamp (µs)")
f.mrtt = ProtoField.uint32("trickles.cont.mrtt", "Smoothed RTT (µs)")
f.tcp_base = ProtoField.uint64("trickles.cont.tcp_base", "TCPBase")
f.start_cwnd = ProtoField.uint32("trickles.cont.start_cwnd", "Start cwnd")
f.ssthresh = ProtoField.uint32("trickles.cont.ssthresh", "ssthresh")
f.first_loss = ProtoField.uint64("trickles.cont.first_loss", "First loss")
f.first_bootstrap_seq = ProtoField.uint64("trickles.cont.first_bootstrap_seq", "First bootstrap seq")
f.token_base = ProtoField.uint64("trickles.cont.token_base", "Token base", base.HEX)
f.data_base = ProtoField.uint64("trickles.cont.data_base", "Data base")
f.start_offset = ProtoField.uint64("trickles.cont.start_offset", "Start offset")
f.total_len = ProtoField.uint64("trickles.cont.total_len", "Total length")
f.mss = ProtoField.uint16("trickles.cont.mss", "MSS")
f.window_cap = ProtoField.uint32("trickles.cont.window_cap", "Window cap")
f.ucont_len = ProtoField.uint16("trickles.cont.ucont_len", "User continuation length")
f.ucont = ProtoField.bytes("trickles.cont.ucont", "User continuation")
f.tag = ProtoField.bytes("trickles.cont.tag", "MAC tag")

local e = encap.fields
e.magic = ProtoField.uint16("tricklesencap.magic", "Magic", base.HEX)
e.version = ProtoField.uint8("tricklesencap.version", "Version")
e.family = ProtoField.uint8("tricklesencap.family", "Family", base.DEC, FAMILIES)
e.flags = ProtoField.uint8("tricklesencap.flags", "Flags", base.HEX)
e.direct_return = ProtoField.bool("tricklesencap.flags.direct_return", "DIRECT_RETURN", 8, nil, 0x01)
e.hdr_len = ProtoField.uint8("tricklesencap.hdr_len", "Header length")
e.port = ProtoField.uint16("tricklesencap.port", "Peer port")
e.ipv4 = ProtoField.ipv4("tricklesencap.ipv4", "Peer IPv4")
e.ipv6 = ProtoField.ipv6("tricklesencap.ipv6", "Peer IPv6")
e.option = ProtoField.uint8("tricklesencap.option", "Option", base.HEX, OPTIONS)
e.option_len = ProtoField.uint8("tricklesencap.option.len", "Option length")
e.via_port = ProtoField.uint16("tricklesencap.via.port", "VIA port")
e.via_ipv4 = ProtoField.ipv4("tricklesencap.via.ipv4", "VIA IPv4")
e.via_ipv6 = ProtoField.ipv6("tricklesencap.via.ipv6", "VIA IPv6")
e.auth_key_id = ProtoField.uint8("tricklesencap.auth.key_id", "Auth key id")
e.auth_timestamp = ProtoField.uint32("tricklesencap.auth.timestamp", "Auth timestamp (s)")
e.auth_tag = ProtoField.uint64("tricklesencap.auth.tag", "Auth tag", base.HEX)
e.padding = ProtoField.bytes("tricklesencap.padding", "Padding")

local malformed = ProtoExpert.new("trickles.malformed", "Malformed Trickles datagram",
    expert.group.MALFORMED, expert.severity.ERROR)
local encap_malformed = ProtoExpert.new("tricklesencap.malformed", "Malformed encapsulation header",
    expert.group.MALFORMED, expert.severity.ERROR)
trickles.experts = { malformed }
encap.experts = { encap_malformed }

local CONT_FIXED = 94
local TAG_LEN = 16

-- The continuation at `offset` of `len` bytes; false when its layout is wrong.
local function dissect_continuation(buf, tree, offset, len)
    local t = tree:add(f.cont, buf(offset, len))
    if len < CONT_FIXED + TAG_LEN then
        t:add_proto_expert_info(malformed, "continuation shorter than 110 bytes")
        return false
    end
    local o = offset
    t:add(f.epoch, buf(o, 1)); t:add(f.state, buf(o + 1, 1))
    t:add(f.seq, buf(o + 2, 8)); t:add(f.timestamp, buf(o + 10, 8))
    t:add(f.mrtt, buf(o + 18, 4)); t:add(f.tcp_base, buf(o + 22, 8))
    t:add(f.start_cwnd, buf(o + 30, 4)); t:add(f.ssthresh, buf(o + 34, 4))
    t:add(f.first_loss, buf(o + 38, 8)); t:add(f.first_bootstrap_seq, buf(o + 46, 8))
    t:add(f.token_base, buf(o + 54, 8)); t:add(f.data_base, buf(o + 62, 8))
    t:add(f.start_offset, buf(o + 70, 8)); t:add(f.total_len, buf(o + 78, 8))
    t:add(f.mss, buf(o + 86, 2)); t:add(f.window_cap, buf(o + 88, 4))
    local ucont_len = buf(o + 92, 2):uint()
    t:add(f.ucont_len, buf(o + 92, 2))
    if CONT_FIXED + ucont_len + TAG_LEN ~= len then
        t:add_proto_expert_info(malformed, "cont_len is not 110 + ucont_len")
        return false
    end
    if ucont_len > 0 then
        t:add(f.ucont, buf(o + CONT_FIXED, ucont_len))
    end
    t:add(f.tag, buf(o + CONT_FIXED + ucont_len, TAG_LEN))
    local state = buf(o + 1, 1):uint()
    if STATES[state] == nil then
        t:add_proto_expert_info(malformed, "unknown continuation state")
        return false
    end
    t:append_text(string.format(": seq %s, TCPBase %s", buf(o + 2, 8):uint64(), buf(o + 22, 8):uint64()))
    return true
end

local function dissect_hello(buf, tree, len)
    if len < 24 then return false end
    tree:add(f.resume_offset, buf(10, 8)); tree:add(f.receive_window, buf(18, 4))
    local n = buf(22, 2):uint()
    tree:add(f.request_len, buf(22, 2))
    if 24 + n > len then return false end
    if n > 0 then tree:add(f.request, buf(24, n)) end
    tree:add(f.padding, buf(24 + n, len - 24 - n), len - 24 - n)
    return true, n > 0 and buf(24, n):string() or ""
end

local function dissect_response(buf, tree, len)
    if len < 21 then return false end
    tree:add(f.nonce, buf(10, 4)); tree:add(f.echo, buf(14, 4))
    local flags = tree:add(f.flags, buf(18, 1))
    flags:add(f.flag_fin, buf(18, 1)); flags:add(f.flag_retransmission, buf(18, 1))
    local c = buf(19, 2):uint()
    tree:add(f.cont_len, buf(19, 2))
    if 21 + c > len then return false end
    if not dissect_continuation(buf, tree, 21, c) then return nil end
    local data_len = len - 21 - c
    tree:add(f.data_len, buf(19, 2), data_len):set_generated()
    if data_len > 0 then tree:add(f.data, buf(21 + c, data_len)) end
    return true, string.format("seq %s, %d bytes", buf(23, 8):uint64(), data_len)
end

local function dissect_request(buf, tree, len)
    if len < 18 then return false end
    tree:add(f.kind, buf(10, 1)); tree:add(f.attempt, buf(11, 1))
    tree:add(f.echo, buf(12, 4))
    local c = buf(16, 2):uint()
    tree:add(f.cont_len, buf(16, 2))
    if 18 + c + 1 > len then return false end
    if not dissect_continuation(buf, tree, 18, c) then return nil end
    local s = buf(18 + c, 1):uint()
    tree:add(f.sack_count, buf(18 + c, 1))
    if s < 1 or s > 32 or 19 + c + 20 * s ~= len then return false end
    for i = 0, s - 1 do
        local o = 19 + c + 20 * i
        local block = tree:add(f.sack, buf(o, 20))
        block:add(f.sack_left, buf(o, 8)); block:add(f.sack_right, buf(o + 8, 8))
        block:add(f.sack_summary, buf(o + 16, 4))
        block:append_text(string.format(": %s..%s", buf(o, 8):uint64(), buf(o + 8, 8):uint64()))
    end
    if KINDS[buf(10, 1):uint()] == nil then return false end
    return true, string.format("seq %s, %d SACK", buf(20, 8):uint64(), s)
end

local function dissect_refuse(buf, tree, len)
    if len < 13 then return false end
    tree:add(f.code, buf(10, 1))
    local m = buf(11, 2):uint()
    tree:add(f.msg_len, buf(11, 2))
    if 13 + m > len then return false end
    if m > 0 then tree:add(f.message, buf(13, m)) end
    local code = buf(10, 1):uint()
    return true, string.format("code %d (%s)", code, REFUSE_CODES[code] or "?")
end

local DISSECTORS = {
    [1] = dissect_hello, [2] = dissect_request, [3] = dissect_response, [4] = dissect_refuse,
}

-- A Trickles datagram; returns the bytes consumed (0 when it is not one).
local function dissect_trickles(buf, pinfo, root)
    local len = buf:len()
    if len < 10 then return 0 end
    local ptype = buf(1, 1):uint()
    pinfo.cols.protocol:set("Trickles")
    local tree = root:add(trickles, buf())
    tree:add(f.version, buf(0, 1)); tree:add(f.type, buf(1, 1)); tree:add(f.conn_id, buf(2, 8))
    local dissect = DISSECTORS[ptype]
    local name = TYPES[ptype] or "unknown type"
    if dissect == nil or buf(0, 1):uint() ~= 1 then
        tree:add_proto_expert_info(malformed, "unknown version or type")
        pinfo.cols.info:set(name)
        return len
    end
    local ok, summary = dissect(buf, tree, len)
    if ok == false then
        tree:add_proto_expert_info(malformed, name .. " shorter or longer than its fields say")
    end
    tree:append_text(", " .. name)
    local info = name
    if summary ~= nil and summary ~= "" then info = info .. " " .. summary end
    pinfo.cols.info:set(info)
    return len
end

-- The encapsulation header, then the Trickles datagram it carries.
local function dissect_encap(buf, pinfo, root)
    local len = buf:len()
    local tree = root:add(encap, buf())
    if len < 12 then
        tree:add_proto_expert_info(encap_malformed, "shorter than 12 bytes")
        return len
    end
    tree:add(e.magic, buf(0, 2)); tree:add(e.version, buf(2, 1)); tree:add(e.family, buf(3, 1))
    local flags = tree:add(e.flags, buf(4, 1))
    flags:add(e.direct_return, buf(4, 1))
    tree:add(e.hdr_len, buf(5, 1)); tree:add(e.port, buf(6, 2))
    local family, hdr_len = buf(3, 1):uint(), buf(5, 1):uint()
    local fixed = (family == 6) and 24 or 12
    if buf(2, 1):uint() ~= 1 or FAMILIES[family] == nil or hdr_len < fixed or hdr_len > len then
        tree:add_proto_expert_info(encap_malformed, "bad version, family or header length")
        return len
    end
    local peer
    if family == 4 then
        tree:add(e.ipv4, buf(8, 4)); peer = tostring(buf(8, 4):ipv4())
    else
        tree:add(e.ipv6, buf(8, 16)); peer = "[" .. tostring(buf(8, 16):ipv6()) .. "]"
    end
    tree:append_text(string.format(", peer %s:%d", peer, buf(6, 2):uint()))
    local o = fixed
    while o < hdr_len do
        if o + 2 > hdr_len then
            tree:add_proto_expert_info(encap_malformed, "option runs past the header")
            return len
        end
        local otype, olen = buf(o, 1):uint(), buf(o + 1, 1):uint()
        if o + 2 + olen > hdr_len then
            tree:add_proto_expert_info(encap_malformed, "option runs past the header")
            return len
        end
        local opt = tree:add(e.option, buf(o, 1))
        opt:add(e.option_len, buf(o + 1, 1))
        local v = o + 2
        if otype == 0x56 and (olen == 6 or olen == 18) then
            opt:add(e.via_port, buf(v, 2))
            if olen == 6 then opt:add(e.via_ipv4, buf(v + 2, 4)) else opt:add(e.via_ipv6, buf(v + 2, 16)) end
        elseif otype == 0x56 then
            opt:add_proto_expert_info(encap_malformed, "VIA option of a wrong length")
        elseif otype == 0x4D and olen == 13 then
            opt:add(e.auth_key_id, buf(v, 1)); opt:add(e.auth_timestamp, buf(v + 1, 4))
            opt:add(e.auth_tag, buf(v + 5, 8))
        elseif otype == 0x4D then
            opt:add_proto_expert_info(encap_malformed, "auth option of a wrong length")
        elseif otype == 0x4E and olen > 0 then
            opt:add(e.padding, buf(v, olen))
        end
        o = v + olen
    end
    if hdr_len < len then
        dissect_trickles(buf(hdr_len):tvb(), pinfo, root)
    end
    local info = tostring(pinfo.cols.info)
    pinfo.cols.protocol:set("Trickles/encap")
    pinfo.cols.info:set(string.format("[encap peer %s:%d] %s", peer, buf(6, 2):uint(), info))
    return len
end

local function is_encap(buf)
    return buf:len() >= 12 and buf(0, 1):uint() == 0xEC and buf(1, 1):uint() == 0x54
end

local function looks_like_trickles(buf)
    local len = buf:len()
    if len < 13 or buf(0, 1):uint() ~= 1 then return false end
    local t = buf(1, 1):uint()
    return (t == 1 and len >= 24) or (t == 2 and len >= 18 + 110 + 21)
        or (t == 3 and len >= 21 + 110) or (t == 4 and len >= 13)
end

function trickles.dissector(buf, pinfo, root)
    if is_encap(buf) then return dissect_encap(buf, pinfo, root) end
    return dissect_trickles(buf, pinfo, root)
end

local function heuristic(buf, pinfo, root)
    if is_encap(buf) or looks_like_trickles(buf) then
        trickles.dissector(buf, pinfo, root)
        return true
    end
    return false
end

trickles.prefs.port = Pref.uint("UDP port", 4433, "The UDP port Trickles is decoded on")
local registered_port = trickles.prefs.port
DissectorTable.get("udp.port"):add(registered_port, trickles)
function trickles.prefs_changed()
    DissectorTable.get("udp.port"):remove(registered_port, trickles)
    registered_port = trickles.prefs.port
    DissectorTable.get("udp.port"):add(registered_port, trickles)
end
trickles:register_heuristic("udp", heuristic)
