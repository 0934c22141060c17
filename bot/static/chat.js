/*
 * The Riverbend web chat widget.
 *
 * Why it is built this way:
 * - The page runs under `Content-Security-Policy: default-src 'self'`: no inline script or style, no
 *   other origin. Everything here talks only to this gateway (POST /chat, POST /chat/contact).
 * - The conversation lives in window.sessionStorage only, never localStorage or cookies. A reload of
 *   the same tab keeps it; a new tab, a new window or a closed browser starts empty, so the next person
 *   at a shared library computer never sees an earlier conversation. "Start over" clears it at once.
 * - Before a web referral is confirmed the assistant asks, as its own message in the live log, how a
 *   caseworker can reach the resident; the contact field opens right under the message box and takes
 *   focus. The contact is sent once to /chat/contact (the vault), never stored in the tab, never shown
 *   in the transcript, never sent to the assistant; a phone or email typed in the message box at that
 *   step goes the same way. "I'd rather not" is an answer too: nothing is sent to the program.
 * - "Pick all that apply" questions are checkboxes and one Send button; the answer goes as the
 *   choices' numbers ("2 7"), as on SMS, and the transcript shows their names.
 * - Bot texts are plain text: they are set with textContent (never innerHTML), line breaks kept by CSS.
 * - Choices are real <button>s placed right after the message box, so from the box Tab reaches
 *   "Send" and then the choices; after a choice, focus returns to the box.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "riverbend-chat";
  var TIMEOUT_MS = 20000;

  var UI = {
    en: {
      title: "Chat with the assistant",
      restart: "Start over",
      note: "This is an automated assistant, not a person. It is not for emergencies: if you are in danger, " +
        "call 911. For crisis support, call or text 988.",
      intro: "Write what you need in a few words, like \"I need a job\" or \"help with rent\". " +
        "Puede escribir en espa\u00f1ol.",
      log: "Conversation",
      you: "You said:",
      bot: "Assistant:",
      typing: "The assistant is writing...",
      input: "Your message",
      send: "Send",
      choices: "Choose an answer, or type it:",
      starter: "Not sure what to write?",
      starterButton: "Show me the options",
      contactLabel: "How can a caseworker reach you? Phone number or email",
      contactHint: "Only caseworkers of the program you chose see it. It is kept encrypted and is not part of the chat.",
      contactSend: "Save",
      contactSkip: "I'd rather not",
      contactSent: "(contact details sent to the caseworker, not kept in this chat)",
      multiSend: "Send my answers",
      multiEmpty: "Please check at least one box, or choose \"Prefer not to say\".",
      contactEmpty: "Please enter a phone number or an email address.",
      empty: "Please write a message first.",
      network: "Sorry, your message could not be sent. Check your internet connection and try again.",
      timeout: "Sorry, the assistant is taking too long to answer. Please try again.",
      server: "Sorry, something went wrong on our side. Please try again in a few minutes. " +
        "If you are in danger, call 911.",
      restarted: "New conversation started."
    },
    es: {
      title: "Chat con el asistente",
      restart: "Empezar de nuevo",
      note: "Este es un asistente autom\u00e1tico, no una persona. No es para emergencias: si est\u00e1 en " +
        "peligro, llame al 911. Para apoyo en crisis, llame o env\u00ede un texto al 988.",
      intro: "Escriba en pocas palabras lo que necesita, por ejemplo \"necesito trabajo\" o " +
        "\"ayuda con la renta\". You can write in English.",
      log: "Conversaci\u00f3n",
      you: "Usted dijo:",
      bot: "Asistente:",
      typing: "El asistente est\u00e1 escribiendo...",
      input: "Su mensaje",
      send: "Enviar",
      choices: "Elija una respuesta o escr\u00edbala:",
      starter: "\u00bfNo sabe qu\u00e9 escribir?",
      starterButton: "Ver las opciones",
      contactLabel: "\u00bfC\u00f3mo le puede contactar un trabajador social? Tel\u00e9fono o correo electr\u00f3nico",
      contactHint: "Solo lo ven los trabajadores del programa que eligi\u00f3. Se guarda cifrado y no forma parte del chat.",
      contactSend: "Guardar",
      contactSkip: "Prefiero no darlo",
      contactSent: "(datos de contacto enviados al trabajador, no se guardan en este chat)",
      multiSend: "Enviar mis respuestas",
      multiEmpty: "Marque al menos una casilla, o elija \"Prefiero no decirlo\".",
      contactEmpty: "Escriba un n\u00famero de tel\u00e9fono o un correo electr\u00f3nico.",
      empty: "Primero escriba un mensaje.",
      network: "Perd\u00f3n, no se pudo enviar su mensaje. Revise su conexi\u00f3n a internet e intente de nuevo.",
      timeout: "Perd\u00f3n, el asistente tarda demasiado en contestar. Intente de nuevo.",
      server: "Perd\u00f3n, tenemos un problema. Intente de nuevo en unos minutos. Si est\u00e1 en peligro, " +
        "llame al 911.",
      restarted: "Empez\u00f3 una conversaci\u00f3n nueva."
    }
  };

  // --- state, kept in this tab only -----------------------------------------------------------

  function freshState() {
    return { v: 1, session: null, language: "en", entries: [], choices: [], askContact: false, multiple: false,
             live: false, liveAfter: 0 };
  }

  function isButton(b) {
    return b && typeof b.title === "string" && typeof b.payload === "string";
  }

  function loadState() {
    var raw = null;
    try {
      raw = window.sessionStorage.getItem(STORAGE_KEY);
    } catch (e) {
      return freshState(); // storage blocked: the chat still works, it just does not survive a reload
    }
    if (!raw) {
      return freshState();
    }
    try {
      var s = JSON.parse(raw);
      if (!s || s.v !== 1 || !Array.isArray(s.entries) || !Array.isArray(s.choices)) {
        return freshState();
      }
      return {
        v: 1,
        session: typeof s.session === "string" ? s.session : null,
        language: s.language === "es" ? "es" : "en",
        entries: s.entries.filter(function (e) {
          return e && (e.from === "you" || e.from === "bot") && typeof e.text === "string";
        }),
        choices: s.choices.filter(isButton),
        askContact: s.askContact === true,
        multiple: s.multiple === true,
        // A person has the conversation, and the last of their messages shown: a reload goes on polling
        // from there (no message twice, none missed).
        live: s.live === true,
        liveAfter: typeof s.liveAfter === "number" && s.liveAfter >= 0 ? s.liveAfter : 0
      };
    } catch (e) {
      return freshState();
    }
  }

  function saveState() {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage full or blocked: nothing to do, the page still works */
    }
  }

  function clearStorage() {
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (e) {
      /* blocked storage holds nothing */
    }
  }

  // --- elements ---------------------------------------------------------------------------------

  var $ = function (id) { return document.getElementById(id); };
  var chat = $("chat");
  var log = $("chat-log");
  var typing = $("chat-typing");
  var form = $("chat-form");
  var input = $("chat-input");
  var send = $("chat-send");
  var statusLine = $("chat-status");
  var choicesBox = $("chat-choices");
  var choicesLabel = $("chat-choices-label");
  var choicesList = $("chat-choices-list");
  var restart = $("chat-restart");
  var contactForm = $("contact-form");
  var contactInput = $("contact-input");
  var contactSend = $("contact-send");
  var contactError = $("contact-error");
  var contactSkip = $("contact-skip");

  var state = loadState();
  var busy = false;
  var contactBusy = false;
  var generation = 0; // bumped by "Start over": answers to an abandoned conversation are dropped
  var inFlight = null;
  var coarsePointer = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;

  function t(key) {
    return (UI[state.language] || UI.en)[key];
  }

  // --- rendering ----------------------------------------------------------------------------------

  function applyLanguage() {
    chat.setAttribute("lang", state.language);
    var nodes = chat.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
    }
    log.setAttribute("aria-label", t("log"));
    log.removeAttribute("aria-labelledby");
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function renderEntry(entry) {
    var item = document.createElement("div");
    item.className = "msg msg-" + entry.from;
    if (entry.lang) {
      item.setAttribute("lang", entry.lang);
    }
    var who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = t(entry.from === "you" ? "you" : "bot") + " ";
    var text = document.createElement("p");
    text.className = "msg-text";
    text.textContent = entry.text;
    item.appendChild(who);
    item.appendChild(text);
    log.appendChild(item);
    scrollToEnd();
  }

  // The payload of the "I'd rather not" choice the assistant offers with its contact question.
  var NO_CONTACT = '/inform{"choice":"no_contact"}';
  // Pick-all-that-apply: the exclusive "prefer not to say" choice stays a plain button.
  var EXCLUSIVE = /prefer_not_to_say/;

  function choiceButton(b) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-choice";
    button.textContent = b.title;
    button.disabled = busy;
    button.addEventListener("click", function (event) {
      choose(b, event);
    });
    return button;
  }

  function renderMultiple(buttons) {
    // Checkboxes in the question's order, one Send button, then the exclusive "prefer not to say".
    var boxes = [];
    var exclusive = [];
    buttons.forEach(function (b, i) {
      if (EXCLUSIVE.test(b.payload)) {
        exclusive.push(b);
        return;
      }
      var label = document.createElement("label");
      label.className = "choice-check";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = String(i + 1);
      box.disabled = busy;
      box.setAttribute("data-title", b.title);
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + b.title));
      choicesList.appendChild(label);
      boxes.push(box);
    });
    var sendAll = document.createElement("button");
    sendAll.type = "button";
    sendAll.className = "btn btn-primary";
    sendAll.textContent = t("multiSend");
    sendAll.disabled = busy;
    sendAll.addEventListener("click", function () {
      var picked = boxes.filter(function (box) { return box.checked; });
      if (!picked.length) {
        setStatus(t("multiEmpty"));
        if (boxes.length) { boxes[0].focus(); }
        return;
      }
      input.focus();
      deliver(picked.map(function (box) { return box.value; }).join(" "),
              picked.map(function (box) { return box.getAttribute("data-title"); }).join(", "), null);
    });
    choicesList.appendChild(sendAll);
    exclusive.forEach(function (b) {
      choicesList.appendChild(choiceButton(b));
    });
  }

  function renderChoices() {
    choicesList.textContent = "";
    var buttons = state.choices;
    var starter = false;
    if (!buttons.length && !state.entries.length) {
      starter = true; // an empty conversation offers the menu, for anyone unsure what to write
      buttons = [{ title: t("starterButton"), payload: state.language === "es" ? "hola" : "hi" }];
    }
    if (state.askContact) {
      buttons = []; // the contact field has its own "I'd rather not"
    }
    choicesLabel.textContent = t(starter ? "starter" : "choices");
    choicesBox.setAttribute("aria-labelledby", "chat-choices-label");
    if (state.multiple && buttons.length) {
      renderMultiple(buttons);
    } else {
      buttons.forEach(function (b) {
        choicesList.appendChild(choiceButton(b));
      });
    }
    choicesBox.hidden = buttons.length === 0;
  }

  function renderContact() {
    contactForm.hidden = !state.askContact;
  }

  function renderAll() {
    applyLanguage();
    // A restored transcript is not news: keep the live region quiet while it is drawn.
    log.setAttribute("aria-live", "off");
    log.textContent = "";
    state.entries.forEach(renderEntry);
    renderChoices();
    renderContact();
    window.setTimeout(function () { log.setAttribute("aria-live", "polite"); }, 0);
  }

  function setStatus(text) {
    statusLine.textContent = text || "";
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    typing.hidden = !value;
    var buttons = choicesList.querySelectorAll("button, input");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = value;
    }
    log.setAttribute("aria-busy", value ? "true" : "false");
  }

  // --- talking to the gateway -------------------------------------------------------------------

  /*
   * POST `payload` as JSON to the gateway. `promise` resolves to {ok, body} (body is null when the answer
   * is not JSON) and rejects when the network fails or TIMEOUT_MS pass; `controller` aborts it.
   */
  function call(path, payload) {
    var controller = new AbortController();
    var timer = window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    var promise = window.fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal
    }).then(function (response) {
      return response.json()
        .catch(function () { return null; })
        .then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      window.clearTimeout(timer);
      return result;
    }, function (error) {
      window.clearTimeout(timer);
      throw error;
    });
    return { promise: promise, controller: controller };
  }

  function failureText(error) {
    return error && error.name === "AbortError" ? t("timeout") : t("network");
  }

  var offeredMultiple = false; // whether the last choices addBotMessages saw are pick-all-that-apply

  function addBotMessages(messages, language) {
    var shown = [];
    offeredMultiple = false;
    messages.forEach(function (m) {
      if (m && typeof m.text === "string" && m.text.trim()) {
        var entry = { from: "bot", text: m.text, lang: language };
        state.entries.push(entry);
        renderEntry(entry);
      }
      if (m && Array.isArray(m.buttons) && m.buttons.filter(isButton).length) {
        shown = m.buttons.filter(isButton);
        offeredMultiple = m.multiple === true;
      }
    });
    return shown;
  }

  /* After a reply: the new choices, whether they are multi-select, and whether the contact step is open. */
  function applyReply(body, ok, previousChoices) {
    var offered = addBotMessages(body.messages, state.language);
    // 503: the assistant did not answer, so the choices on screen are still the valid ones.
    if (ok || offered.length) {
      state.choices = offered;
      state.multiple = offeredMultiple;
    } else {
      state.choices = previousChoices;
    }
    var wasAsking = state.askContact;
    state.askContact = body.ask_contact === true;
    return state.askContact && !wasAsking;
  }

  /* While a person has the conversation (a live handoff), their answers arrive by long polling
     GET /chat/live: each poll waits up to 25 s for messages after the last one seen. */
  var polling = false;

  function pollLive() {
    if (polling || !state.session) {
      return;
    }
    polling = true;
    var myGeneration = generation;
    // The session goes in a header, never in the URL (proxies log URLs; the session is the key to the chat).
    var url = "/chat/live?after=" + state.liveAfter;
    window.fetch(url, { headers: { "Accept": "application/json", "X-Chat-Session": state.session },
                        credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        polling = false;
        if (myGeneration !== generation) {
          return;
        }
        if (!body || !Array.isArray(body.messages)) {
          window.setTimeout(pollLive, 5000);
          return;
        }
        body.messages.forEach(function (m) {
          if (m && typeof m.id === "number" && m.id > state.liveAfter) {
            state.liveAfter = m.id;
          }
        });
        addBotMessages(body.messages.map(function (m) { return { text: m.text, buttons: [] }; }), state.language);
        state.live = body.live === true;
        saveState();
        if (body.live === true) {
          pollLive();
        }
      }, function () {
        polling = false;
        window.setTimeout(pollLive, 5000);
      });
  }

  /* Send `message` (typed text or a choice's payload); `display` is what the transcript shows. */
  function deliver(message, display, typed) {
    if (busy) {
      return;
    }
    var previousChoices = state.choices;
    var entry = { from: "you", text: display };
    state.entries.push(entry);
    renderEntry(entry);
    setStatus("");
    setBusy(true);
    saveState();

    var myGeneration = generation;
    var request = call("/chat", { session: state.session, message: message });
    inFlight = request.controller;

    function undo(errorText) {
      // The message never reached the assistant: take it out of the transcript and give it back.
      state.entries.pop();
      if (log.lastChild) {
        log.removeChild(log.lastChild);
      }
      state.choices = previousChoices;
      if (typed && !input.value) {
        input.value = typed;
      }
      saveState();
      setBusy(false);
      renderChoices();
      setStatus(errorText);
    }

    request.promise
      .then(function (result) {
        if (myGeneration !== generation) {
          return;
        }
        var body = result.body;
        if (body && typeof body.session === "string") {
          state.session = body.session;
        }
        if (!body || !Array.isArray(body.messages)) {
          undo(body && typeof body.error === "string" ? body.error : t("server"));
          return;
        }
        if (body.language === "es" || body.language === "en") {
          state.language = body.language;
        }
        var contactOpened = applyReply(body, result.ok, previousChoices);
        if (body.live === true) {
          state.live = true;
          pollLive();
        }
        if (body.forgotten === true) {
          // The resident deleted their data (DELETE / BORRAR): the tab forgets the conversation too,
          // keeping only the confirmation on screen, and the next message starts a new session.
          state = freshState();
          state.language = body.language === "es" ? "es" : "en";
          addBotMessages(body.messages, state.language);
          clearStorage();
          setBusy(false);
          renderAll();
          return;
        }
        saveState();
        setBusy(false);
        applyLanguage();
        renderChoices();
        renderContact();
        if (contactOpened) {
          // The question is in the live log (read out); the field it asks for takes focus, in view.
          contactInput.focus();
          if (contactForm.scrollIntoView) {
            contactForm.scrollIntoView({ block: "nearest" });
          }
        } else if (state.choices.length && choicesBox.scrollIntoView) {
          choicesBox.scrollIntoView({ block: "nearest" });
        }
      }, function (error) {
        if (myGeneration !== generation) {
          return;
        }
        undo(failureText(error));
      })
      .then(function () {
        if (inFlight === request.controller) {
          inFlight = null;
        }
      });
  }

  function choose(button, event) {
    if (busy) {
      return;
    }
    // Keep focus where the next step happens: keyboard users (Enter/Space give detail 0) and mouse
    // users go back to the message box; on a touch screen that would pop up the keyboard, so the
    // conversation itself takes focus instead.
    if (event.detail === 0 || !coarsePointer) {
      input.focus();
    } else {
      log.focus({ preventScroll: true });
    }
    deliver(button.payload, button.title, null);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) {
      return;
    }
    var text = input.value.trim();
    if (!text) {
      setStatus(t("empty"));
      input.focus();
      return;
    }
    input.value = "";
    if (state.askContact && looksLikeContact(text)) {
      // Typed in the message box at the contact step: it goes to the vault, never into the transcript.
      contactInput.focus();
      submitContact(text);
      return;
    }
    input.focus();
    deliver(text, text, text);
  });

  function looksLikeContact(text) {
    return /[^@\s]+@[^@\s]+\.[a-z]{2,}/i.test(text) || (text.replace(/\D/g, "").length >= 10 &&
      /^[\d\s().+-]+$/.test(text));
  }

  // --- how a caseworker can reach the resident ----------------------------------------------------

  function contactFailed(text) {
    contactError.textContent = text;
    contactInput.setAttribute("aria-invalid", "true");
    contactInput.focus();
  }

  function submitContact(contact) {
    if (contactBusy) {
      return;
    }
    if (!contact) {
      contactFailed(t("contactEmpty"));
      return;
    }
    if (!state.session) {
      contactFailed(t("server"));
      return;
    }
    contactBusy = true;
    contactSend.disabled = true;
    contactError.textContent = "";
    setBusy(true);
    var myGeneration = generation;
    var previousChoices = state.choices;
    call("/chat/contact", { session: state.session, contact: contact }).promise
      .then(function (result) {
        if (myGeneration !== generation) {
          return;
        }
        var body = result.body;
        if (result.ok && body && body.ok === true) {
          contactInput.value = "";
          contactInput.removeAttribute("aria-invalid");
          var sent = { from: "you", text: t("contactSent") };
          state.entries.push(sent);
          renderEntry(sent);
          if (Array.isArray(body.messages)) {
            // The referral step: the assistant confirms, naming who will call, by when, and the reference.
            applyReply(body, true, previousChoices);
          } else {
            state.askContact = false;
            if (typeof body.message === "string" && body.message) {
              var entry = { from: "bot", text: body.message, lang: state.language };
              state.entries.push(entry);
              renderEntry(entry);
            }
          }
          saveState();
          setBusy(false);
          renderChoices();
          renderContact();
          input.focus();
          return;
        }
        setBusy(false);
        contactFailed(body && typeof body.error === "string" ? body.error : t("server"));
      })
      .catch(function (error) {
        if (myGeneration === generation) {
          setBusy(false);
          contactFailed(failureText(error));
        }
      })
      .then(function () {
        contactBusy = false;
        contactSend.disabled = false;
      });
  }

  contactForm.addEventListener("submit", function (event) {
    event.preventDefault();
    submitContact(contactInput.value.trim());
  });

  contactSkip.addEventListener("click", function (event) {
    // "I'd rather not" is an answer the assistant needs: it then says how to reach the program directly.
    contactInput.value = "";
    contactError.textContent = "";
    var decline = state.choices.filter(function (b) { return b.payload === NO_CONTACT; })[0] ||
      { title: t("contactSkip"), payload: NO_CONTACT };
    state.askContact = false;
    renderContact();
    choose(decline, event);
  });

  // --- start over -------------------------------------------------------------------------------

  restart.addEventListener("click", function () {
    generation += 1;
    if (inFlight) {
      inFlight.abort();
      inFlight = null;
    }
    clearStorage();
    state = freshState();
    setBusy(false);
    contactBusy = false;
    contactSend.disabled = false;
    input.value = "";
    contactInput.value = "";
    contactInput.removeAttribute("aria-invalid");
    contactError.textContent = "";
    renderAll();
    setStatus(t("restarted"));
    input.focus();
  });

  renderAll();
  setBusy(false);
  if (state.live) {
    pollLive(); // reloaded while a person has the conversation
  }
})();
