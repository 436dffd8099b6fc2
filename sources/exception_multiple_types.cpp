#include <iostream>
#include <string>

void trigger(int kind) {
    if (kind == 0) {
        throw 42;
    }
    if (kind == 1) {
        throw std::string("string error");
    }
    if (kind == 2) {
        throw 'x';
    }
    std::cout << "Kind " << kind << " did not throw" << std::endl;
}

int main() {
    for (int kind = 0; kind < 4; ++kind) {
        try {
            trigger(kind);
        } catch (int code) {
            std::cout << "Caught int: " << code << std::endl;
        } catch (const std::string& message) {
            std::cout << "Caught string: " << message << std::endl;
        } catch (...) {
            std::cout << "Caught something else" << std::endl;
        }
    }
    std::cout << "All cases handled" << std::endl;
    return 0;
}
