// emosketch: a face that feels on its own, with no computer. Buttons stimulate the agent emotion model of
// `emosketch agent` (emosketch_agent.h): a press raises a feeling (joy, sadness, surprise, anger), which
// flows in, then fades with its own half-life, and a strong one overthrows the feeling before it. The face
// shows what the agent feels now, moving there by the pack's transitions, and back to rest as it fades.
//
// 1. emosketch pack --input me.jpg --out pack
// 2. Copy pack/pack.h, and emosketch_player.h/.c and emosketch_agent.h/.c from pack/, into this sketch's folder.
// 3. Wire four push buttons to GND from pins 2, 3, 4 and 5 on an Uno or a Nano (4 to 7 on a Leonardo or a
//    Micro, whose I2C is on 2 and 3; GP10 to GP13 on a Pico, GPIO 25, 26, 27 and 32 on an ESP32: see
//    BUTTON_PINS); the board's own pull-ups are used. Upload, and open the serial monitor (115200 baud) to see
//    what the face is asked to show.
//
// A button whose feeling the pack has no emotion for changes nothing on the face (the setup says which):
// an Uno's pack (--max-bytes) may hold neutral, happy and sad only. Change BUTTONS to wire other feelings
// (ES_FEAR, ES_LOVE, ES_POWER), or other amounts. The agent adds 4.2 KB to an Uno's flash, with the float
// arithmetic it brings, and 79 bytes of RAM: give the pack that much less than docs/on-the-device.md's 12,300
// (emosketch pack --input me.jpg --emotions neutral,happy,sad --max-bytes 8000 --out pack; an estimate).
// Wiring and display as in the adafruit_ssd1306 example (SSD1306 on I2C at 0x3C).
#include <Wire.h>
#include <Adafruit_GFX.h>
#include <Adafruit_SSD1306.h>
#include "emosketch_player.h"
#include "emosketch_agent.h"
#include "pack.h"

#if !defined(PACK_FORMAT_SSD1306) || PACK_WIDTH != 128u || PACK_HEIGHT != 64u || PACK_FRAME_BYTES != 1024u
#error "this example plays 128x64 ssd1306 packs (emosketch pack's default size and --format ssd1306)"
#endif

// The buttons' pins: free ones, away from each board's I2C pins (the display's) and its serial port.
#if defined(ARDUINO_ARCH_RP2040)  // arduino-pico: I2C on GP4 and GP5
#define BUTTON_PINS 10, 11, 12, 13
#elif defined(ESP32)  // I2C on GPIO 21 and 22, the serial port on 1 and 3; 34 to 39 have no pull-ups
#define BUTTON_PINS 25, 26, 27, 32
#elif defined(ARDUINO_AVR_LEONARDO) || defined(ARDUINO_AVR_MICRO)  // I2C on 2 and 3
#define BUTTON_PINS 4, 5, 6, 7
#else  // an Uno or a Nano: I2C on A4 and A5, the serial port on 0 and 1
#define BUTTON_PINS 2, 3, 4, 5
#endif
static const uint8_t PINS[] = {BUTTON_PINS};

struct Button {
  uint8_t channel;  // the agent's channel it stimulates
  float amount;     // by how much (0.5 and more overthrows the feeling before it)
};
static const Button BUTTONS[] = {{ES_JOY, 0.8f}, {ES_SAD, 0.8f}, {ES_SURPRISE, 0.9f}, {ES_MAD, 0.8f}};
#define BUTTON_COUNT (sizeof(BUTTONS) / sizeof(BUTTONS[0]))
static_assert(sizeof(PINS) == BUTTON_COUNT, "a pin for every button");
#define DEBOUNCE_MS 30  // a contact that bounces for this long is one press
#define STEP_MS 20      // the agent moves on 50 times a second

Adafruit_SSD1306 display(128, 64, &Wire, -1);
es_player player;
es_agent agent;
static bool down[BUTTON_COUNT];
static unsigned long changedMs[BUTTON_COUNT];
static unsigned long steppedMs = 0;
static uint8_t asked;

static void printName(uint8_t e) {
  uint8_t index = 0;
  for (unsigned i = 0; i < sizeof(pack_emotion_names) - 1; i++) {
    char c = (char)ES_READ8((const uint8_t *)&pack_emotion_names[i]);
    if (c == ',') index++;
    else if (index == e) Serial.print(c);
  }
}

void setup() {
  Serial.begin(115200);
  if (!display.begin(SSD1306_SWITCHCAPVCC, 0x3C)) {
    Serial.println(F("no SSD1306 at 0x3C"));
    for (;;) {}
  }
  es_agent_init(&agent, pack_emotion_names, sizeof(pack_emotion_names));
  asked = es_agent_requested(&agent);  // the rest: neutral, or the pack's first emotion
  if (es_player_init(&player, &pack_pack, display.getBuffer(), asked) != ES_OK) {
    Serial.println(F("pack.h is damaged or from an older emosketch: export it again"));
    for (;;) {}
  }
  for (uint8_t i = 0; i < BUTTON_COUNT; i++) {
    pinMode(PINS[i], INPUT_PULLUP);
    if (agent.shows[BUTTONS[i].channel] < 0) {
      Serial.print(F("the button on pin "));
      Serial.print((int)PINS[i]);
      Serial.println(F(": this pack has no emotion for its feeling"));
    }
  }
}

void loop() {
  unsigned long now = millis();
  bool moved = false;  // the agent changed: ask what it shows now
  for (uint8_t i = 0; i < BUTTON_COUNT; i++) {
    bool pressed = digitalRead(PINS[i]) == LOW;
    if (pressed != down[i] && now - changedMs[i] >= DEBOUNCE_MS) {
      down[i] = pressed;
      changedMs[i] = now;
      if (pressed) {
        es_agent_stimulate(&agent, BUTTONS[i].channel, BUTTONS[i].amount);
        moved = true;
      }
    }
  }
  if (now - steppedMs >= STEP_MS) {
    es_agent_step(&agent, (uint32_t)(now - steppedMs));
    steppedMs = now;
    moved = true;
  }
  if (moved && es_agent_requested(&agent) != asked) {
    asked = es_agent_requested(&agent);
    es_player_request(&player, asked);
    Serial.print(F("-> "));
    printName(asked);
    Serial.println();
  }
  if (es_player_update(&player, now)) display.display();
}
