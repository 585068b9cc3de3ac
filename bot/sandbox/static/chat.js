/* swbot sandbox web chat.
 *
 * The chat comes from the Bot API stand-in as data (GET /api/state, then server-sent events on
 * /api/events with a fresh snapshot after every change). Messages are rendered like Telegram's
 * apps render them: from the plain text and its entities, building DOM nodes from a fixed list of
 * element types (never innerHTML), so a message can only show as Telegram formatting.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const UI = {
    en: {
      bot: "bot", connecting: "connecting…", placeholder: "Message", start: "START", menu: "Menu",
      intro: "What can this bot do?", today: "Today", yesterday: "Yesterday", edited: "edited",
      shareTitle: "Share your phone number?",
      shareText: "The bot will know your phone number ({phone}). In the sandbox you share the phone of {name}, the person selected on the left.",
      share: "Share", cancel: "Cancel", ok: "OK", open: "Open",
      openTitle: "Open this link?", loading: "Loading demo data…", starting: "Starting the bot…",
      download: "Download",
    },
    zh: {
      bot: "机器人", connecting: "连接中…", placeholder: "消息", start: "开始", menu: "菜单",
      intro: "这个机器人能做什么？", today: "今天", yesterday: "昨天", edited: "已编辑",
      shareTitle: "分享你的手机号？",
      shareText: "机器人将获得你的手机号（{phone}）。在沙盒中，你分享的是左侧所选人员 {name} 的手机号。",
      share: "分享", cancel: "取消", ok: "确定", open: "打开",
      openTitle: "打开此链接？", loading: "正在加载演示数据…", starting: "正在启动机器人…",
      download: "下载",
    },
  };

  let state = null;
  let people = [];
  let persona = null; // account id of the person the sandbox user pretends to be (their phone)
  let boundSeen;
  let initialized = false;
  let kbdOpen = true;
  let kbdSig = "";
  const nodes = new Map(); // message id -> {sig, node}

  const lang = () => ((state && state.user && state.user.language_code) || "en").startsWith("zh") ? "zh" : "en";
  const t = (key) => UI[lang()][key];
  const userId = () => (state ? state.user.id : undefined);

  // ------------------------------------------------------------------ server calls

  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const resp = await fetch(path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) throw new Error((data && data.error) || `HTTP ${resp.status}`);
    return data;
  }

  function log(text, isError) {
    const li = el("li", isError ? "err" : "");
    const now = new Date();
    li.appendChild(el("time", "", now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false })));
    li.appendChild(el("span", "", text));
    const box = $("log");
    box.prepend(li);
    while (box.children.length > 40) box.lastChild.remove();
  }

  async function act(what, fn) {
    try {
      return await fn();
    } catch (err) {
      log(`${what}: ${err.message}`, true);
      toast(err.message);
      return null;
    }
  }

  const send = (text) => act("send", () => api("/api/send", { user_id: userId(), text }));

  // ------------------------------------------------------------------ rich text

  function safeHref(url) {
    try {
      const u = new URL(/^[a-z][a-z0-9+.-]*:/i.test(url) ? url : "http://" + url); // "example.com" links too
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch (e) { /* not a URL */ }
    return null;
  }

  const COMMAND = /(^|[\s(])(\/[A-Za-z0-9_]{1,32})(?=$|[\s.,;:!?)])/g;

  function appendPlain(parent, text, commands) {
    if (!commands) { parent.appendChild(document.createTextNode(text)); return; }
    let pos = 0;
    for (const m of text.matchAll(COMMAND)) {
      const start = m.index + m[1].length;
      if (start > pos) parent.appendChild(document.createTextNode(text.slice(pos, start)));
      parent.appendChild(el("span", "cmd", m[2]));
      pos = start + m[2].length;
    }
    if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
  }

  function entityNode(n, text) {
    const piece = text.slice(n.offset, n.end);
    let outer;
    let inner;
    switch (n.type) {
      case "bold": outer = el("strong"); break;
      case "italic": outer = el("em"); break;
      case "underline": outer = el("u"); break;
      case "strikethrough": outer = el("s"); break;
      case "spoiler": outer = el("span", "spoiler"); break;
      case "code": outer = el("code"); break;
      case "pre": outer = el("pre"); inner = el("code"); outer.appendChild(inner); break;
      case "blockquote": case "expandable_blockquote": outer = el("blockquote"); break;
      case "bot_command": outer = el("span", "cmd"); break;
      case "text_link": case "url": {
        outer = el("a");
        const href = safeHref(n.type === "url" ? piece : n.e.url);
        if (href) outer.href = href;
        outer.rel = "noopener noreferrer";
        break;
      }
      default: outer = el("span");
    }
    return { outer, inner: inner || outer, plain: !["code", "pre", "url", "text_link", "bot_command"].includes(n.type) };
  }

  /* Telegram entities use UTF-16 offsets, which is what JavaScript strings index by. */
  function renderRich(parent, text, entities) {
    const root = { offset: 0, end: text.length, kids: [] };
    const list = (entities || [])
      .map((e) => ({ type: e.type, offset: e.offset, end: e.offset + e.length, e, kids: [] }))
      .filter((n) => n.offset >= 0 && n.end > n.offset && n.end <= text.length)
      .sort((a, b) => a.offset - b.offset || b.end - a.end);
    const stack = [root];
    for (const n of list) {
      while (stack.length > 1 && n.offset >= stack[stack.length - 1].end) stack.pop();
      const top = stack[stack.length - 1];
      n.end = Math.min(n.end, top.end); // an entity crossing its parent's end is cut there
      if (n.end <= n.offset) continue;
      top.kids.push(n);
      stack.push(n);
    }
    (function emit(node, out, commands) {
      let pos = node.offset;
      for (const k of node.kids) {
        if (k.offset > pos) appendPlain(out, text.slice(pos, k.offset), commands);
        const made = entityNode(k, text);
        emit(k, made.inner, commands && made.plain);
        out.appendChild(made.outer);
        pos = k.end;
      }
      if (pos < node.end) appendPlain(out, text.slice(pos, node.end), commands);
    })(root, parent, true);
  }

  // ------------------------------------------------------------------ messages

  const timeOf = (unix) => new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  const dayOf = (unix) => { const d = new Date(unix * 1000); return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`; };

  function dayLabel(unix) {
    const d = new Date(unix * 1000);
    const now = new Date();
    const y = new Date(now); y.setDate(now.getDate() - 1);
    if (dayOf(unix) === dayOf(now / 1000)) return t("today");
    if (dayOf(unix) === dayOf(y / 1000)) return t("yesterday");
    return d.toLocaleDateString(lang() === "zh" ? "zh-CN" : "en", { month: "long", day: "numeric" });
  }

  const SVG = "http://www.w3.org/2000/svg";

  function checks() { // the "read" double tick of outgoing messages
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 16 11");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M1 5.8 4 8.8 10.5 2.2M6.5 8.8 7.6 9.9 14.6 2.2");
    for (const [k, v] of [["fill", "none"], ["stroke", "currentColor"], ["stroke-width", "1.5"],
      ["stroke-linecap", "round"], ["stroke-linejoin", "round"]]) path.setAttribute(k, v);
    svg.appendChild(path);
    return svg;
  }

  function meta(m) {
    const box = el("span", "meta");
    if (m.edited) box.appendChild(el("span", "edited", t("edited")));
    box.appendChild(el("span", "time", timeOf(m.date)));
    if (m.out) box.appendChild(checks());
    return box;
  }

  function colorOf(s) {
    let h = 0;
    for (const ch of String(s)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return `c${h % 7}`;
  }

  function renderMessage(m) {
    const wrap = el("div", `msg ${m.out ? "out" : "in"}`);
    wrap.dataset.id = m.id;
    if (m.buttons.length) wrap.classList.add("kb");
    const bubble = el("div", "bubble");
    if (m.protected) bubble.classList.add("protected");
    if (m.contact) {
      const card = el("div", "contact");
      const name = [m.contact.first_name, m.contact.last_name].filter(Boolean).join(" ");
      card.appendChild(el("div", `avatar ${colorOf(name)}`, (name || "?").slice(0, 1)));
      const who = el("div");
      who.appendChild(el("div", "cname", name));
      who.appendChild(el("div", "cphone", `+${String(m.contact.phone_number).replace(/^\+/, "")}`));
      card.appendChild(who);
      bubble.appendChild(card);
    } else if (m.photo || m.document) {
      bubble.classList.add("media");
      if (m.photo) bubble.appendChild(photoNode(m.photo));
      if (m.document) bubble.appendChild(documentNode(m.document));
      if (m.caption) {
        const body = el("span", "text caption");
        renderRich(body, m.caption, m.caption_entities);
        bubble.appendChild(body);
      }
    } else {
      const body = el("span", "text");
      renderRich(body, m.text, m.entities);
      bubble.appendChild(body);
    }
    bubble.appendChild(meta(m));
    wrap.appendChild(bubble);
    if (m.buttons.length) wrap.appendChild(inlineKeyboard(m));
    return wrap;
  }

  function photoNode(p) {
    const img = el("img", "photo");
    img.src = p.url;
    img.alt = "";
    img.width = Math.min(p.width, 360);
    img.style.aspectRatio = `${p.width} / ${p.height}`;
    img.addEventListener("click", () => window.open(p.url, "_blank", "noopener"));
    return img;
  }

  function fileSize(n) {
    if (!n && n !== 0) return "";
    return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
  }

  function documentNode(d) {
    const card = el("a", "doc");
    card.href = d.url; // served with Content-Disposition: attachment and the file's name
    card.setAttribute("download", d.name);
    const ext = (d.name.split(".").pop() || "").slice(0, 4).toUpperCase();
    card.appendChild(el("div", "doc-icon", ext));
    const who = el("div", "doc-info");
    who.appendChild(el("div", "doc-name", d.name));
    who.appendChild(el("div", "doc-size", `${fileSize(d.size)} · ${t("download")}`));
    card.appendChild(who);
    return card;
  }

  function inlineKeyboard(m) {
    const kb = el("div", "ikb");
    for (const row of m.buttons) {
      const r = el("div", "ikb-row");
      for (const b of row) {
        const btn = el("button", "", b.text);
        btn.type = "button";
        btn.title = b.text;
        if (b.url) {
          btn.classList.add("url");
          btn.addEventListener("click", () => openLink(b.url));
        } else if (b.callback_data !== undefined) {
          btn.addEventListener("click", () => tap(m.id, b.callback_data, btn));
        } else {
          btn.disabled = true;
        }
        r.appendChild(btn);
      }
      kb.appendChild(r);
    }
    return kb;
  }

  async function tap(messageId, data, btn) {
    btn.classList.add("busy");
    const res = await act("tap", () => api("/api/tap", { user_id: userId(), message_id: messageId, data }));
    btn.classList.remove("busy");
    const answer = res && res.answer;
    if (answer && answer.text) {
      if (answer.show_alert) modal("", answer.text, [{ label: t("ok") }]);
      else toast(answer.text);
    }
  }

  const content = (m) => JSON.stringify([m.text, m.entities, m.buttons, m.edited, m.contact, m.date, m.photo,
    m.document, m.caption, m.caption_entities]);
  const signature = (m) => content(m) + lang(); // the language changes labels such as "edited"

  function renderMessages(list) {
    const box = $("messages");
    const chat = $("chat");
    const nearBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
    let jump = !initialized;
    box.querySelectorAll(".day").forEach((d) => d.remove());
    const seen = new Set();
    let prev = null;
    for (const m of list) {
      seen.add(m.id);
      const sig = signature(m);
      let rec = nodes.get(m.id);
      if (!rec) {
        rec = { sig, body: content(m), node: renderMessage(m) };
        if (initialized) rec.node.classList.add("new");
        nodes.set(m.id, rec);
        if (m.out) jump = true;
      } else if (rec.sig !== sig) {
        const node = renderMessage(m);
        if (initialized && rec.body !== content(m)) node.classList.add("flash"); // edited in place
        rec.node.replaceWith(node);
        rec.node = node;
        rec.sig = sig;
        rec.body = content(m);
      }
      const want = prev ? prev.nextSibling : box.firstChild;
      if (rec.node !== want) box.insertBefore(rec.node, want);
      prev = rec.node;
    }
    for (const [id, rec] of nodes) {
      if (!seen.has(id)) { rec.node.remove(); nodes.delete(id); } // deleted by the bot
    }
    // Day separators, and bubble groups (the tail goes on the last bubble of a run).
    let lastDay = null;
    list.forEach((m, i) => {
      const node = nodes.get(m.id).node;
      const day = dayOf(m.date);
      const newDay = day !== lastDay;
      if (newDay) { box.insertBefore(el("div", "day", dayLabel(m.date)), node); lastDay = day; }
      const before = list[i - 1];
      const after = list[i + 1];
      node.classList.toggle("first", newDay || !before || before.out !== m.out);
      node.classList.toggle("last", !after || after.out !== m.out || dayOf(after.date) !== day);
    });
    $("intro").hidden = list.length > 0;
    if (jump || nearBottom) chat.scrollTop = chat.scrollHeight;
  }

  // ------------------------------------------------------------------ links

  function openLink(url) {
    const href = safeHref(url);
    if (!href) return;
    const bot = state ? state.bot.username.toLowerCase() : "";
    const deep = href.match(/^https?:\/\/t\.me\/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]{1,64})$/);
    if (deep && deep[1].toLowerCase() === bot) {
      send(`/start ${deep[2]}`); // what Telegram's app does with the bot's own deep link
      return;
    }
    modal(t("openTitle"), href, [
      { label: t("cancel") },
      { label: t("open"), run: () => window.open(href, "_blank", "noopener,noreferrer") },
    ]);
  }

  $("messages").addEventListener("click", (ev) => {
    if (ev.target.closest("a.doc")) return; // a document: the browser downloads it
    const a = ev.target.closest("a");
    if (a) { ev.preventDefault(); if (a.href) openLink(a.href); return; }
    const cmd = ev.target.closest(".cmd");
    if (cmd) { send(cmd.textContent); return; }
    const sp = ev.target.closest(".spoiler");
    if (sp) sp.classList.add("shown");
  });

  // ------------------------------------------------------------------ toast and dialogs

  let toastTimer = null;
  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 2600);
  }

  function modal(title, text, actions) {
    $("modal-title").textContent = title;
    $("modal-title").hidden = !title;
    $("modal-text").textContent = text;
    const row = $("modal-actions");
    row.replaceChildren();
    for (const a of actions) {
      const b = el("button", "", a.label);
      b.type = "button";
      b.addEventListener("click", () => { $("modal").hidden = true; if (a.run) a.run(); });
      row.appendChild(b);
    }
    $("modal").hidden = false;
  }

  // ------------------------------------------------------------------ composer

  function renderComposer() {
    const empty = state.messages.length === 0;
    $("start-btn").hidden = !empty;
    $("start-btn").textContent = t("start");
    $("inputbar").hidden = empty;
    $("input").placeholder = t("placeholder");
    $("menu-label").textContent = t("menu");
    $("menu-btn").hidden = state.commands.length === 0;

    const rk = state.reply_keyboard;
    const sig = JSON.stringify(rk);
    if (sig !== kbdSig) { kbdOpen = true; kbdSig = sig; } // a new keyboard opens
    $("kbd-btn").hidden = !rk;
    $("kbd-btn").classList.toggle("on", kbdOpen);
    const box = $("reply-kbd");
    box.hidden = !rk || !kbdOpen || empty;
    box.replaceChildren();
    for (const row of rk || []) {
      const r = el("div", "rk-row");
      for (const b of row) {
        const btn = el("button", b.request_contact ? "contact-btn" : "", b.text);
        btn.type = "button";
        btn.addEventListener("click", () => (b.request_contact ? shareContact() : send(b.text)));
        r.appendChild(btn);
      }
      box.appendChild(r);
    }
    renderCommandMenu();
  }

  function renderCommandMenu() {
    const box = $("cmd-menu");
    box.replaceChildren();
    for (const c of state.commands) {
      const item = el("button", "cmd-item");
      item.type = "button";
      item.appendChild(el("div", "avatar", "S"));
      item.appendChild(el("b", "", `/${c.command}`));
      item.appendChild(el("span", "", c.description));
      item.addEventListener("click", () => { closeMenu(); send(`/${c.command}`); });
      box.appendChild(item);
    }
  }

  function closeMenu() { $("cmd-menu").hidden = true; $("menu-btn").classList.remove("open"); }

  $("menu-btn").addEventListener("click", () => {
    const box = $("cmd-menu");
    box.hidden = !box.hidden;
    $("menu-btn").classList.toggle("open", !box.hidden);
  });
  $("kbd-btn").addEventListener("click", () => { kbdOpen = !kbdOpen; renderComposer(); });
  $("start-btn").addEventListener("click", () => send("/start"));

  const input = $("input");
  $("inputbar").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    autosize();
    closeMenu();
    send(text);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("inputbar").requestSubmit();
    } else if (ev.key === "Escape") {
      closeMenu();
    }
  });
  function autosize() { input.style.height = "auto"; input.style.height = `${Math.min(input.scrollHeight, 120)}px`; }
  input.addEventListener("input", () => {
    autosize();
    if (input.value === "/" && state && state.commands.length) { $("cmd-menu").hidden = false; $("menu-btn").classList.add("open"); }
    else if (!input.value.startsWith("/")) closeMenu();
  });
  document.addEventListener("click", (ev) => {
    if (!ev.target.closest("#cmd-menu") && !ev.target.closest("#menu-btn") && !ev.target.closest("#input")) closeMenu();
  });

  function shareContact() {
    const p = people.find((x) => x.account_id === persona) || people[0];
    const text = t("shareText").replace("{phone}", p ? p.phone : "138****8000").replace("{name}", p ? p.name : "?");
    modal(t("shareTitle"), text, [
      { label: t("cancel") },
      {
        label: t("share"),
        run: () => act("share phone", async () => {
          await api("/api/contact", { user_id: userId(), account_id: p ? p.account_id : null });
          log(`shared the phone of ${p ? p.name : "nobody"}`);
        }),
      },
    ]);
  }

  // ------------------------------------------------------------------ side panel

  function renderPeople() {
    const list = $("people");
    list.replaceChildren();
    $("people-count").textContent = people.length ? `· ${people.length}` : "";
    const ready = isReady();
    for (const p of people) {
      const li = el("li", "person");
      li.dataset.account = p.account_id;
      if (p.account_id === persona) li.classList.add("selected");
      li.appendChild(el("div", `avatar ${colorOf(p.account_id)}`, p.name.slice(0, 1)));
      const who = el("div", "who");
      const name = el("div", "pname", p.name);
      name.appendChild(el("span", "pphone", p.phone));
      if (p.bound) name.appendChild(el("span", "badge", "bound"));
      who.appendChild(name);
      who.appendChild(el("div", "pid", p.id_number));
      li.appendChild(who);
      const acts = el("div", "acts");
      const link = el("button", "chip", "Deep link");
      link.type = "button";
      link.dataset.act = "link";
      link.title = "A one-time t.me link from the operator API, opened in this chat";
      link.disabled = !ready;
      link.addEventListener("click", (ev) => { ev.stopPropagation(); bindByLink(p, link); });
      const chat = el("button", "chip", "In chat");
      chat.type = "button";
      chat.dataset.act = "chat";
      chat.title = "/bind, then name, ID number and the phone, typed into the chat";
      chat.disabled = !ready;
      chat.addEventListener("click", (ev) => { ev.stopPropagation(); bindInChat(p, chat); });
      acts.append(link, chat);
      li.appendChild(acts);
      li.addEventListener("click", () => { persona = p.account_id; renderPeople(); });
      list.appendChild(li);
    }
    renderNewTax();
  }

  function renderNewTax() {
    const btn = $("new-tax");
    const bound = state && state.bound ? people.find((p) => p.account_id === state.bound) : null;
    btn.disabled = !bound || !isReady() || btn.classList.contains("busy");
    btn.textContent = bound ? `New tax slip arrives for ${bound.name}` : "New tax slip arrives";
    for (const story of document.querySelectorAll("button.story")) {
      story.disabled = !bound || !isReady() || story.classList.contains("busy");
    }
    $("new-tax-hint").textContent = bound
      ? "A new list, its receipt and its CEB816 tax slip go through the signed operator API; the notifier tells the chat."
      : "Bind a person first: the notification goes to the chat bound to them.";
  }

  async function bindByLink(p, btn) {
    persona = p.account_id;
    renderPeople();
    btn.disabled = true;
    const res = await act("deep link", () => api("/api/link", { user_id: userId(), account_id: p.account_id }));
    if (res) log(`operator API issued a link for ${p.name}; opened it: /start <token>`);
    btn.disabled = false;
  }

  async function bindInChat(p, btn) {
    persona = p.account_id;
    renderPeople();
    btn.disabled = true;
    log(`binding in chat as ${p.name}: /bind, name, ID number, phone`);
    const res = await act("bind in chat", () => api("/api/bind-chat", { user_id: userId(), account_id: p.account_id }));
    if (res && !res.ok) { log(`bind in chat stopped: ${res.reason || "details did not match"}`, true); toast(res.reason || "not bound"); }
    btn.disabled = false;
  }

  $("new-tax").addEventListener("click", async () => {
    const btn = $("new-tax");
    const bound = state && state.bound;
    if (!bound) return;
    btn.classList.add("busy");
    btn.disabled = true;
    const res = await act("new tax slip", () => api("/api/new-tax", { account_id: bound }));
    if (res) {
      log(`operator API: ${res.results.map((r) => `${r.type} ${r.status}`).join(" · ")}`);
      log(`new tax slip ${res.tax_no}: ¥${res.total_tax} (${res.goods.join(", ")})`);
    }
    btn.classList.remove("busy");
    renderNewTax();
  });

  for (const storyBtn of document.querySelectorAll("button.story")) {
    storyBtn.addEventListener("click", async () => {
      const bound = state && state.bound;
      if (!bound) return;
      storyBtn.classList.add("busy");
      storyBtn.disabled = true;
      const story = storyBtn.dataset.story;
      const res = await act(story, () => api("/api/story", { account_id: bound, story }));
      if (res) {
        log(`operator API: ${res.results.map((r) => `${r.type} ${r.status}`).join(" · ")}`);
        log(`${story === "verify" ? "suspended for 验核" : "cancelled"}: list ${res.invt_no} (${res.goods.join(", ")})`);
      }
      storyBtn.classList.remove("busy");
      renderNewTax();
    });
  }

  function renderLanguage() {
    const code = (state.user.language_code || "en").startsWith("zh") ? "zh-hans" : "en";
    for (const b of $("lang").querySelectorAll("button")) b.setAttribute("aria-checked", String(b.dataset.lang === code));
    document.documentElement.lang = code === "en" ? "en" : "zh-Hans";
  }

  $("lang").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button");
    if (!b || !state) return;
    const res = await act("language", () => api("/api/language", { user_id: userId(), language_code: b.dataset.lang }));
    if (res) log(`language_code is now ${res.language_code}`);
  });

  async function loadPeople() {
    const res = await act("people", () => api("/api/people"));
    if (!res) return;
    people = res.people;
    if (!persona) persona = res.bound || (people[0] && people[0].account_id);
    renderPeople();
  }

  // ------------------------------------------------------------------ state

  const isReady = () => !!(state && state.status.done && state.status.bot_ready);

  function renderStatus() {
    const s = state.status;
    const box = $("loading");
    box.hidden = isReady() && !s.error;
    if (s.error) $("loading-text").textContent = s.error;
    else if (!s.done) $("loading-text").textContent = `${t("loading")} ${s.loaded} / ${s.total || "…"}`;
    else $("loading-text").textContent = t("starting");
    $("loading-bar").style.width = `${s.total ? Math.round((100 * s.loaded) / s.total) : s.done ? 100 : 3}%`;
  }

  function apply(next) {
    const wasReady = isReady();
    const langBefore = state ? lang() : null;
    state = next;
    $("bot-name").textContent = state.bot.name;
    $("bot-avatar").textContent = state.bot.name.slice(0, 1).toUpperCase();
    $("bot-sub").textContent = t("bot");
    $("intro-title").textContent = t("intro");
    $("intro-text").textContent = state.description;
    renderStatus();
    renderLanguage();
    renderMessages(state.messages);
    renderComposer();
    initialized = true;
    if (state.bound !== boundSeen || isReady() !== wasReady || lang() !== langBefore) {
      boundSeen = state.bound;
      if (state.bound) persona = state.bound;
      loadPeople();
    } else {
      renderNewTax();
    }
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.addEventListener("state", (ev) => apply(JSON.parse(ev.data)));
    source.addEventListener("error", () => { $("bot-sub").textContent = state ? t("connecting") : "…"; });
  }

  api("/api/state").then(apply).catch((err) => log(`state: ${err.message}`, true)).finally(connect);
})();
